"""Losses of the methods, one module per paper, each citing its equations.

* :mod:`spelke.losses.gwm`: the GWM flow-model loss (thesis Ch. 3, eqs. (3.3)-(3.4), App. C.2), its
  released-code and Ch. 5 forms, the per-region flow fits and the flow resizing GWM uses.
* :mod:`spelke.losses.lrtl`: the LRTL trajectory loss (eq. (5.4)), the temporal smoothing loss
  (eq. (5.7)), the rejected truncated-SVD loss (eq. (5.3)) and the weighted total.
* :mod:`spelke.losses.ppmp`: the PPMP objective (thesis Ch. 4, eq. (4.1)): the flow's marginal
  likelihood under translation / affine motion priors (eqs. (4.5), (D.10)-(D.12), Alg. 1), Gumbel-softmax
  mask samples, the KL to the uniform prior, the β schedule and the prior presets (App. D.3, D.4).

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
from spelke.losses.ppmp import (
    PPMP_MOTION_MODELS,
    PPMP_PRIORS,
    PPMP_SIGMA2,
    PPMPPrior,
    gumbel_softmax_masks,
    ppmp_beta,
    ppmp_kl,
    ppmp_loss,
    ppmp_nll,
    ppmp_prior,
    region_log_marginal,
)

__all__ = [
    "EMBEDDING_DIMS",
    "GWM_COORDS",
    "GWM_FORMS",
    "GWM_MODELS",
    "LRTL_WEIGHTS",
    "PPMP_MOTION_MODELS",
    "PPMP_PRIORS",
    "PPMP_SIGMA2",
    "PPMPPrior",
    "SVDFallbackWarning",
    "fit_flow_models",
    "flow_embedding",
    "gumbel_softmax_masks",
    "gwm_loss",
    "lrtl_loss",
    "ppmp_beta",
    "ppmp_kl",
    "ppmp_loss",
    "ppmp_nll",
    "ppmp_prior",
    "rank_reconstruction_loss",
    "reconstruct_flow",
    "region_log_marginal",
    "reset_svd_fallback_counts",
    "resize_flow",
    "sample_masks",
    "svd_fallback_counts",
    "temporal_loss",
    "track_matrix",
    "trajectory_loss",
]
