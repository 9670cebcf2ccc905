"""Inputs and gradient checks shared by the zoo model tests (plain functions; each test file keeps its own
model-specific ``TINY`` options and ``tiny`` constructor)."""

from __future__ import annotations

import torch


def rectangles(n: int = 8, size: int = 32, seed: int = 0) -> torch.Tensor:
    """``n`` images of 2-3 coloured rectangles on a plain background, ``(n, 3, size, size)`` in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(n, 3, size, size)
    for i in range(n):
        img = (torch.rand(3, generator=g) * 0.3 + 0.1).view(3, 1, 1).expand(3, size, size).clone()
        for _ in range(int(torch.randint(2, 4, (1,), generator=g))):
            h, w = (int(v) for v in torch.randint(size // 5, size // 2, (2,), generator=g))
            y, x = (int(v) for v in torch.randint(0, size - size // 5, (2,), generator=g))
            img[:, y : y + h, x : x + w] = torch.rand(3, 1, 1, generator=g)
        out[i] = img
    return out


def two_rectangles(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """``n`` images of two coloured rectangles on a plain dark background."""
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(n, 3, size, size)
    for i in range(n):
        img = (torch.rand(3, 1, 1, generator=g) * 0.3).expand(3, size, size).clone()
        for _ in range(2):
            h, w = torch.randint(6, 14, (2,), generator=g).tolist()
            y = int(torch.randint(0, size - h, (1,), generator=g))
            x = int(torch.randint(0, size - w, (1,), generator=g))
            img[:, y : y + h, x : x + w] = torch.rand(3, 1, 1, generator=g) * 0.7 + 0.3
        out[i] = img
    return out


def params_without_finite_grad(model: torch.nn.Module) -> list[str]:
    """Names of ``model``'s parameters whose gradient is missing or not finite everywhere."""
    return [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]


def params_without_nonzero_grad(model: torch.nn.Module) -> list[str]:
    """Names of ``model``'s parameters whose gradient is missing or not positive in absolute sum (all zero
    or NaN)."""
    return [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
