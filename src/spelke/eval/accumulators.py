"""Accumulators with ``reset / update / compute`` (detectron2's DatasetEvaluator, torchmetrics).

Metric *functions* in :mod:`spelke.eval` are pure and return one value per image. Accumulators collect
those values over a dataset and reduce them; they never re-implement a metric.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np


class Accumulator(ABC):
    """Base class: ``reset()`` clears state, ``update(...)`` adds a batch, ``compute()`` reduces."""

    def __init__(self) -> None:
        self.reset()

    @abstractmethod
    def reset(self) -> None: ...

    @abstractmethod
    def update(self, *args: Any, **kwargs: Any) -> None: ...

    @abstractmethod
    def compute(self) -> dict[str, Any]: ...


class MeanAccumulator(Accumulator):
    """Running means of named per-item values, optionally grouped by a tag.

    NaN values (a metric undefined for an item, e.g. FG-ARI of an image without foreground) are left
    out of the mean and counted in ``"<name>/undefined"``.

    Examples:
        >>> acc = MeanAccumulator()
        >>> acc.update({"iou": [1.0, 0.5, float("nan")]})
        >>> acc.compute()
        {'iou': 0.75, 'iou/count': 2, 'iou/undefined': 1}
        >>> acc.update({"iou": [0.0]}, group="shape=cube")
        >>> acc.compute_groups()["shape=cube"]["iou"]
        0.0
    """

    def reset(self) -> None:
        self._sum: dict[str | None, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._n: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._nan: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def update(self, values: Mapping[str, Any], group: str | None = None) -> None:
        for name, v in values.items():
            a = np.atleast_1d(np.asarray(v, dtype=np.float64))
            ok = ~np.isnan(a)
            self._sum[group][name] += float(a[ok].sum())
            self._n[group][name] += int(ok.sum())
            self._nan[group][name] += int((~ok).sum())

    def _reduce(self, group: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self._n[group]:
            n = self._n[group][name]
            out[name] = self._sum[group][name] / n if n else math.nan
            out[f"{name}/count"] = n
            if self._nan[group][name]:
                out[f"{name}/undefined"] = self._nan[group][name]
        return out

    def compute(self) -> dict[str, Any]:
        """Means over all items updated without a group."""
        return self._reduce(None)

    def compute_groups(self) -> dict[str, dict[str, Any]]:
        """Means per named group, in first-seen order."""
        return {g: self._reduce(g) for g in list(self._n) if g is not None}
