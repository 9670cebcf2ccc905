"""Losses of the methods, one module per paper, each citing its equations.

* :mod:`spelke.losses.gwm`: the GWM flow-model loss (thesis Ch. 3, eqs. (3.3)-(3.4), App. C.2), its
  released-code and Ch. 5 forms, the per-region flow fits and the flow resizing GWM uses.
* :mod:`spelke.losses.lrtl`: the LRTL trajectory loss (eq. (5.4)), the temporal smoothing loss
  (eq. (5.7)), the rejected truncated-SVD loss (eq. (5.3)) and the weighted total.

docs/losses.md maps every equation to its code; docs/fidelity.md lists the choices.
"""

from spelke.losses.gwm import (
    EMBEDDING_DIMS,
    GWM_COORDS,
    GWM_FORMS,
    GWM_MODELS,
    fit_flow_models,
    flow_embedding,
    gwm_loss,
    reconstruct_flow,
    resize_flow,
)
from spelke.losses.lrtl import (
    LRTL_WEIGHTS,
    SVDFallbackWarning,
    lrtl_loss,
    rank_reconstruction_loss,
    reset_svd_fallback_counts,
    sample_masks,
    svd_fallback_counts,
    temporal_loss,
    track_matrix,
    trajectory_loss,
)

__all__ = [
    "EMBEDDING_DIMS",
    "GWM_COORDS",
    "GWM_FORMS",
    "GWM_MODELS",
    "LRTL_WEIGHTS",
    "SVDFallbackWarning",
    "fit_flow_models",
    "flow_embedding",
    "gwm_loss",
    "lrtl_loss",
    "rank_reconstruction_loss",
    "reconstruct_flow",
    "reset_svd_fallback_counts",
    "resize_flow",
    "sample_masks",
    "svd_fallback_counts",
    "temporal_loss",
    "track_matrix",
    "trajectory_loss",
]
