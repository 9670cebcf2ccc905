"""Exponential moving average of weights with LRTL's warm-up schedule (thesis App. E, l.3316).

LRTL: "decay power of 2/3 with a warm-up of 1500 iterations and update every 10 steps" (4/5 on
SegTrackv2). We read it as the common EMA warm-up rule (as in ``ema-pytorch``):
``decay(n) = 1 - (1 + n / inv_gamma) ** -power`` where n counts steps since the start, clipped to
``[min_decay, max_decay]``; before ``start`` steps the average just copies the weights. The max decay is
not in the thesis (docs/fidelity.md, option ``max_decay``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class EMAConfig:
    """EMA settings (defaults: LRTL, thesis App. E)."""

    power: float = 2 / 3
    start: int = 1500
    every: int = 10
    inv_gamma: float = 1.0
    min_decay: float = 0.0
    max_decay: float = 0.9999

    def decay(self, step: int) -> float:
        """The decay used at training ``step`` (0 before ``start``: the average copies the weights)."""
        n = step - self.start
        if n <= 0:
            return 0.0
        d = 1.0 - (1.0 + n / self.inv_gamma) ** (-self.power)
        return float(min(max(d, self.min_decay), self.max_decay))


class EMA(nn.Module):
    """A shadow copy of a model whose parameters follow an exponential moving average (buffers are copied)."""

    def __init__(self, model: nn.Module, config: EMAConfig | None = None) -> None:
        super().__init__()
        self.config = config or EMAConfig()
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> bool:
        """Update at ``step`` if it is an update step; returns whether it updated."""
        if step % self.config.every != 0:
            return False
        d = self.config.decay(step)
        for s, p in zip(self.shadow.parameters(), model.parameters(), strict=True):
            s.lerp_(p.detach(), 1.0 - d)
        for s, b in zip(self.shadow.buffers(), model.buffers(), strict=True):
            s.copy_(b)
        self.updates += 1
        return True
