"""Typed schedules: objects, not strings (DESIGN.md "Contracts at the seams").

A schedule maps a training step to a value (a learning rate, a loss weight, PPMP's beta, an annealed
temperature). Each is a small frozen dataclass, so a config holds it directly, it prints readably, and it
round-trips through YAML as ``{"kind": "warmup-poly", ...}`` via :func:`schedule_from_dict`.

Examples:
    >>> s = WarmupPoly(base=1.5e-4, warmup_steps=1500, warmup_start=1e-6, total_steps=15000, power=0.9)
    >>> round(s(0), 8), round(s(1500), 7)
    (1e-06, 0.0001364)
    >>> Linear(start=0.1, end=-0.1, steps=5000)(2500)
    0.0
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from spelke.errors import ConfigError


class Schedule:
    """Base class: ``schedule(step) -> float``."""

    kind: ClassVar[str] = ""

    def __call__(self, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}  # type: ignore[call-overload]


@dataclass(frozen=True)
class Constant(Schedule):
    """The same value at every step."""

    kind: ClassVar[str] = "constant"
    value: float

    def __call__(self, step: int) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Linear(Schedule):
    """From ``start`` to ``end`` linearly over ``steps`` (after ``delay`` steps), then held at ``end``."""

    kind: ClassVar[str] = "linear"
    start: float
    end: float
    steps: int
    delay: int = 0

    def __call__(self, step: int) -> float:
        if self.steps <= 0:
            return float(self.end)
        a = min(max((step - self.delay) / self.steps, 0.0), 1.0)
        return float(self.start + a * (self.end - self.start))


@dataclass(frozen=True)
class Cosine(Schedule):
    """Half-cosine from ``base`` to ``final`` over ``total_steps`` after a linear warm-up."""

    kind: ClassVar[str] = "cosine"
    base: float
    total_steps: int
    final: float = 0.0
    warmup_steps: int = 0
    warmup_start: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return _warm(step, self.warmup_steps, self.warmup_start, self.base)
        span = max(self.total_steps - self.warmup_steps, 1)
        a = min((step - self.warmup_steps) / span, 1.0)
        return float(self.final + 0.5 * (self.base - self.final) * (1 + math.cos(math.pi * a)))


@dataclass(frozen=True)
class Step(Schedule):
    """``base`` multiplied by ``gamma`` at each milestone (PPMP: /10 after 200k), after a linear warm-up."""

    kind: ClassVar[str] = "step"
    base: float
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_steps: int = 0
    warmup_start: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return _warm(step, self.warmup_steps, self.warmup_start, self.base)
        n = sum(step >= m for m in self.milestones)
        return float(self.base * self.gamma**n)


@dataclass(frozen=True)
class WarmupPoly(Schedule):
    """Linear warm-up from ``warmup_start`` to ``base``, then polynomial decay to 0 at ``total_steps``.

    GWM (thesis App. C.1): warm-up from 1e-6 to 1.5e-4 over 1.5k iterations, then polynomial decay;
    the power is not in the thesis (detectron2's WarmupPolyLR default is 0.9; docs/fidelity.md).
    As in detectron2's WarmupPolyLR, the rate is ``base * warm(step) * (1 - step / total_steps) ** power``
    with ``warm`` rising linearly from ``warmup_start / base`` to 1 over the warm-up.
    """

    kind: ClassVar[str] = "warmup-poly"
    base: float
    total_steps: int
    warmup_steps: int = 0
    warmup_start: float = 0.0
    power: float = 0.9

    def __call__(self, step: int) -> float:
        decay = max(1.0 - step / max(self.total_steps, 1), 0.0) ** self.power
        warm = 1.0
        if step < self.warmup_steps and self.base > 0:
            warm = _warm(step, self.warmup_steps, self.warmup_start, self.base) / self.base
        return float(self.base * warm * decay)


def _warm(step: int, steps: int, start: float, base: float) -> float:
    return float(start + (base - start) * step / max(steps, 1))


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """Slot Attention's rate (the ClevrTex zoo) (paper App. E; eMORL's code): ``base * min(1, step / warmup_steps) *
    rate ** (step / decay_steps)``, a linear warm-up from 0 times a continuous exponential decay.

    Examples:
        >>> s = ExponentialDecay(base=4e-4, warmup_steps=10_000, rate=0.5, decay_steps=100_000)
        >>> s(0), round(s(5_000), 8), round(s(100_000), 8)
        (0.0, 0.00019319, 0.0002)
    """

    kind: ClassVar[str] = "warmup-exp"
    base: float
    warmup_steps: int = 0
    rate: float = 1.0
    decay_steps: int = 100_000

    def __call__(self, step: int) -> float:
        warm = min(1.0, step / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        return float(self.base * warm * self.rate ** (step / max(self.decay_steps, 1)))


_KINDS: dict[str, type[Schedule]] = {
    c.kind: c for c in (Constant, Linear, Cosine, Step, WarmupPoly, ExponentialDecay)
}


def schedule_from_dict(d: dict[str, Any] | Schedule | float) -> Schedule:
    """Build a schedule from ``{"kind": ..., **fields}`` (YAML), a number (constant) or a schedule."""
    if isinstance(d, Schedule):
        return d
    if isinstance(d, int | float):
        return Constant(float(d))
    if not isinstance(d, dict) or "kind" not in d:
        raise ConfigError(
            f"a schedule must be a number or a mapping with 'kind' (one of {list(_KINDS)}), got {d!r}"
        )
    kind = d["kind"]
    if kind not in _KINDS:
        raise ConfigError(f"unknown schedule kind {kind!r}; known: {', '.join(_KINDS)}")
    cls = _KINDS[kind]
    args = {k: v for k, v in d.items() if k != "kind"}
    if "milestones" in args:
        args["milestones"] = tuple(int(m) for m in args["milestones"])
    try:
        return cls(**args)
    except TypeError as e:
        raise ConfigError(f"bad fields for schedule {kind!r}: {e}") from None


__all__ = [
    "Constant",
    "Cosine",
    "ExponentialDecay",
    "Linear",
    "Schedule",
    "Step",
    "WarmupPoly",
    "schedule_from_dict",
]
