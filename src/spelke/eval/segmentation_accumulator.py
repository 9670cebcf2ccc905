"""Running means of the segmentation metrics over a dataset (detectron2 ``DatasetEvaluator`` style)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from numpy.typing import ArrayLike

from spelke.errors import ConfigError
from spelke.eval.accumulators import Accumulator, MeanAccumulator
from spelke.eval.segmentation import METRIC_NAMES, segmentation_scores


class SegmentationAccumulator(Accumulator):
    """Per-image segmentation metrics of batches of label maps, reduced to means over images.

    Each :meth:`update` scores a batch with :func:`spelke.eval.segmentation.segmentation_scores` (one
    contingency pass for all metrics, each with its default options) and adds the per-image values to a
    :class:`~spelke.eval.accumulators.MeanAccumulator`. Undefined values (NaN, e.g. FG-ARI of an image
    without foreground) are left out of the mean and counted in ``"<name>/undefined"``.

    Args:
        metrics: names out of ``METRIC_NAMES`` (default: all of ari, fg_ari, miou, miou_fg, miou_gt,
            mbo, msc, dice, dice_fg).

    Examples:
        >>> import numpy as np
        >>> acc = SegmentationAccumulator(metrics=["miou", "fg_ari"])
        >>> acc.update(np.array([[[0, 0, 1, 2]]]), np.array([[[0, 0, 1, 1]]]))
        >>> acc.update(np.zeros((1, 1, 4), int), np.zeros((1, 1, 4), int))
        >>> acc.compute()
        {'miou': 0.75, 'miou/count': 2, 'fg_ari': 0.0, 'fg_ari/count': 1, 'fg_ari/undefined': 1}
    """

    def __init__(self, metrics: Iterable[str] = METRIC_NAMES) -> None:
        self.metrics = tuple(metrics)
        unknown = [m for m in self.metrics if m not in METRIC_NAMES]
        if unknown:
            raise ConfigError(f"unknown segmentation metric(s) {unknown}; choose from {list(METRIC_NAMES)}")
        super().__init__()

    def reset(self) -> None:
        self._means = MeanAccumulator()

    def update(
        self,
        pred: ArrayLike,
        true: ArrayLike,
        *,
        valid: ArrayLike | None = None,
        group: str | None = None,
    ) -> None:
        """Add a batch of (N, H, W) (or (H, W)) predicted and true label maps; ``group`` tags the batch."""
        self._means.update(segmentation_scores(pred, true, self.metrics, valid=valid), group=group)

    def compute(self) -> dict[str, Any]:
        """Means over all images added without a group: ``{name, name/count[, name/undefined]}``."""
        return self._means.compute()

    def compute_groups(self) -> dict[str, dict[str, Any]]:
        """Means per group tag, in first-seen order."""
        return self._means.compute_groups()
