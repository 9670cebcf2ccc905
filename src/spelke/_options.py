"""Coercing options (often strings from the command line, ``key=value``) to typed values with clear errors.

Shared by datasets, flow backends and trackers so that ``frames=3``, ``gaussian=true`` and
``alpha=0.01`` mean the same everywhere.
"""

from __future__ import annotations

from typing import Any

from spelke.errors import ConfigError

__all__ = ["as_bool", "as_float", "as_int"]


def as_int(value: Any, name: str, minimum: int | None = None, allow_none: bool = False) -> int | None:
    """Coerce an option (possibly a CLI string) to int, with a clear error; ``2.5`` is refused."""
    if value is None and allow_none:
        return None
    try:
        out = int(value)
        if isinstance(value, float) and value != out:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"option {name} must be an integer, got {value!r}") from None
    if minimum is not None and out < minimum:
        raise ConfigError(f"option {name} must be >= {minimum}, got {out}")
    return out


def as_float(value: Any, name: str, minimum: float | None = None) -> float:
    """Coerce an option (possibly a CLI string) to float, with a clear error."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name} must be a number, got {value!r}") from None
    if minimum is not None and out < minimum:
        raise ConfigError(f"option {name} must be >= {minimum}, got {out}")
    return out


def as_bool(value: Any, name: str) -> bool:
    """Coerce an option (possibly a CLI string such as ``"true"`` or ``"0"``) to bool."""
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"option {name} must be true or false, got {value!r}")
