"""One verified evaluation library: pure metric functions, accumulators and named protocols.

Metric functions take integer label maps of shape (N, H, W) (0 = background in ground truth; predicted
ids are arbitrary) or binary masks, and return one float64 per image as a numpy array. Accumulators
(``reset / update / compute``) reduce them over a dataset. Protocols (:mod:`spelke.eval.protocols`) fix
everything else that changes a number and read predictions from disk. docs/metrics.md defines each
metric exactly and compares it with the public evaluators.

Examples:
    >>> import numpy as np
    >>> from spelke.eval import ari, fg_ari, miou, jaccard
    >>> true = np.array([[[0, 0, 1, 1], [0, 0, 2, 2]]])
    >>> pred = np.array([[[3, 3, 5, 5], [3, 3, 5, 5]]])       # merges objects 1 and 2
    >>> float(fg_ari(pred, true)[0]), float(miou(pred, true)[0])
    (0.0, 0.5)
"""

from spelke.eval.accumulators import Accumulator, MeanAccumulator
from spelke.eval.binary import binary_confusion, boundary_f, boundary_map, jaccard, pixel_accuracy
from spelke.eval.davis import Davis2017Accumulator, davis2017_unsupervised, davis_statistics
from spelke.eval.detection import (
    CorLocAccumulator,
    box_iou,
    coco_ap,
    corloc,
    largest_component_box,
    mask_to_box,
)
from spelke.eval.reconstruction import count_segments, object_count_accuracy, reconstruction_mse
from spelke.eval.saliency import SaliencyAccumulator, f_beta, f_beta_curve, precision_recall
from spelke.eval.segmentation import (
    MatchResult,
    ari,
    ari_video,
    dice,
    dice_fg,
    fg_ari,
    fg_ari_video,
    match_segments,
    mbo,
    miou,
    miou_fg,
    miou_gt,
    msc,
    segmentation_scores,
)
from spelke.eval.segmentation_accumulator import SegmentationAccumulator
from spelke.eval.semantic import SemanticAccumulator, match_clusters

__all__ = [
    "Accumulator",
    "CorLocAccumulator",
    "Davis2017Accumulator",
    "MatchResult",
    "MeanAccumulator",
    "SaliencyAccumulator",
    "SegmentationAccumulator",
    "SemanticAccumulator",
    "ari",
    "ari_video",
    "binary_confusion",
    "boundary_f",
    "boundary_map",
    "box_iou",
    "coco_ap",
    "corloc",
    "count_segments",
    "davis2017_unsupervised",
    "davis_statistics",
    "dice",
    "dice_fg",
    "f_beta",
    "f_beta_curve",
    "fg_ari",
    "fg_ari_video",
    "jaccard",
    "largest_component_box",
    "mask_to_box",
    "match_clusters",
    "match_segments",
    "mbo",
    "miou",
    "miou_fg",
    "miou_gt",
    "msc",
    "object_count_accuracy",
    "pixel_accuracy",
    "precision_recall",
    "reconstruction_mse",
    "segmentation_scores",
]
