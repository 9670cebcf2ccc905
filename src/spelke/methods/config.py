"""Method configs: dataclass defaults are the paper's settings; YAML presets; ``key=value`` overrides.

Presets live in ``spelke/configs/<method>/<preset>.yaml`` (shipped with the package) and hold only the
fields that differ from the paper defaults. On the command line ``key=value`` pairs override any field;
values are parsed as YAML (``max_steps=500``, ``gaps=[1,-1]``, ``flow_clip=null``) and sizes also take
``96x96``.
"""

from __future__ import annotations

import dataclasses
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from spelke.errors import ConfigError


def preset_dir(method: str) -> Path:
    return Path(str(resources.files("spelke") / "configs" / method))


def list_presets(method: str) -> list[str]:
    d = preset_dir(method)
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def read_preset(method: str, preset: str) -> dict[str, Any]:
    """A preset's fields: a name from :func:`list_presets` or a path to a YAML file."""
    p = Path(preset)
    if not (p.suffix in (".yaml", ".yml") and p.is_file()):
        p = preset_dir(method) / f"{preset}.yaml"
    if not p.is_file():
        raise ConfigError(
            f"unknown preset '{preset}' for method {method}; presets: {', '.join(list_presets(method)) or 'none'} "
            "(or pass a path to a YAML file)"
        )
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"preset {p} must be a mapping of config fields, got {type(data).__name__}")
    data.pop("method", None)
    data.pop("seed", None)
    return data


def parse_overrides(overrides: list[str] | dict[str, Any] | None) -> dict[str, Any]:
    if overrides is None:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key=value (e.g. max_steps=500)")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError:
            out[k.strip()] = v
    return out


def _coerce(name: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if value is None:
        if hint is type(None) or type(None) in args:
            return None
        raise ConfigError(f"config field '{name}' cannot be null")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        non_none = [a for a in args if a is not type(None)]
        for a in non_none:
            try:
                return _coerce(name, value, a)
            except ConfigError:
                continue
        raise ConfigError(f"config field '{name}': cannot use {value!r} (expected {hint})")
    if origin is tuple:
        if isinstance(value, str):
            sep = "x" if "x" in value else ","
            value = [v for v in value.split(sep) if v.strip()]
        if not isinstance(value, list | tuple):
            value = [value]
        elem = args[0] if args else Any
        return tuple(_coerce(name, v, elem) for v in value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config field '{name}' must be a mapping, got {value!r}")
        return dict(value)
    if hint in (bool, int, float) and isinstance(value, str):
        text = value.strip()
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            pass
        if hint is float and isinstance(value, str):  # YAML 1.1 reads 7e-4 (no dot) as a string
            try:
                value = float(text)
            except ValueError:
                pass
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config field '{name}' must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ConfigError(f"config field '{name}' must be an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config field '{name}' must be a number, got {value!r}")
        return float(value)
    if hint is str:
        return str(value)
    return value


def build_config(cls: type, method: str, preset: str | None, overrides: Any) -> Any:
    """``cls`` (a config dataclass) from its defaults, then the preset, then the overrides."""
    values: dict[str, Any] = {}
    if preset and preset != "paper":  # "paper": the dataclass defaults
        values.update(read_preset(method, preset))
    values.update(parse_overrides(overrides))
    return config_from_dict(cls, values, method)


def config_from_dict(cls: type, values: dict[str, Any], method: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        import difflib

        hints_txt = []
        for u in unknown:
            close = difflib.get_close_matches(u, names, n=1)
            hints_txt.append(f"{u}" + (f" (did you mean {close[0]}?)" if close else ""))
        raise ConfigError(
            f"unknown config field(s) for {method or cls.__name__}: {', '.join(hints_txt)}; "
            f"fields: {', '.join(sorted(names))}"
        )
    kwargs = {k: _coerce(k, v, hints[k]) for k, v in values.items()}
    return cls(**kwargs)


def describe_config(cls: type) -> list[tuple[str, str, str]]:
    """(field, default, doc) rows for ``--help`` and docs, docs from the ``Attributes:`` docstring."""
    doc = cls.__doc__ or ""
    docs: dict[str, str] = {}
    cur = None
    for line in doc.splitlines():
        s = line.strip()
        if (
            ":" in s
            and s.split(":")[0].isidentifier()
            and line.startswith("        ")
            and not line.startswith("          ")
        ):
            cur, text = s.split(":", 1)
            docs[cur] = text.strip()
        elif cur and s:
            docs[cur] += " " + s
        elif not s:
            cur = None
    rows = []
    for f in dataclasses.fields(cls):
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else ""  # type: ignore[misc]
            )
        )
        rows.append((f.name, repr(default), docs.get(f.name, "")))
    return rows
