"""Errors with one actionable line: what was wrong, what was expected, what to do.

Every error spelke raises on bad input derives from :class:`SpelkeError`; the CLI prints its message on
one line and exits with status 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations


class SpelkeError(Exception):
    """Base class of all errors spelke raises for bad input or a bad environment."""

    exit_code = 2


class ShapeError(SpelkeError, ValueError):
    """An array has the wrong shape, dtype or value range."""


class NotRegisteredError(SpelkeError, KeyError):
    """A name was looked up in a registry that does not hold it."""

    def __str__(self) -> str:  # KeyError quotes its message; keep ours readable
        return str(self.args[0]) if self.args else ""


class DataLayoutError(SpelkeError, FileNotFoundError):
    """Files on disk are missing or do not follow the expected layout."""


class FileFormatError(SpelkeError, ValueError):
    """A file exists but cannot be read as the expected format."""


class MissingDependencyError(SpelkeError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


class ConfigError(SpelkeError, ValueError):
    """A configuration value or command-line option is invalid."""


def missing_dependency(module: str, extra: str, purpose: str) -> MissingDependencyError:
    """Build the error raised when an optional dependency is absent.

    Args:
        module: the import name that failed (``"bpy"``).
        extra: the spelke pip extra that provides it (``"synth"``).
        purpose: what needs it, for the message (``"rendering ClevrTex scenes"``).
    """
    return MissingDependencyError(
        f"{purpose} needs the Python module '{module}', which is not installed; "
        f"install it with: pip install 'spelke[{extra}]'"
    )
