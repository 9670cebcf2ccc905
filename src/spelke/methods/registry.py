"""The method registry: ``create_method("gwm", preset="cpu", overrides=["max_steps=500"])``."""

from __future__ import annotations

from typing import Any

from spelke.registry import Registry

#: Every trainable method: name -> its TrainableMethod subclass.
METHODS: Registry[Any] = Registry("method")

_LOADED = False


def _ensure_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from spelke.methods import gwm, lrtl, ppmp, zoo  # noqa: F401


def register_method(name: str, **kwargs: Any):
    """Decorator: register a TrainableMethod subclass under ``name``."""
    return METHODS.register(name, **kwargs)


def method_class(name: str) -> Any:
    _ensure_builtin()
    return METHODS.get(name)


def list_methods(pattern: str = "*") -> list[str]:
    _ensure_builtin()
    return METHODS.list(pattern)


def create_method(
    name: str, /, preset: str | None = None, overrides: list[str] | dict[str, Any] | None = None
) -> Any:
    """The method ``name`` configured from a preset (default: the paper's settings) plus overrides."""
    from spelke.methods.config import build_config

    cls = method_class(name)
    return cls(build_config(cls.config_class, cls.name, preset, overrides))
