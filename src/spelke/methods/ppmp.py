"""Probable Motion Patterns (PPMP): multi-object segmentation from the probability of a region's flow.

Thesis Ch. 4 and App. D (spec: specs/gwm-ppmp.md Part B). The network sees one RGB frame and predicts K
soft masks (slots); flow enters only the loss (eq. 4.1): the expected negative log marginal likelihood of
each region's flow under a Gaussian prior over a translation or affine motion (parameters integrated out,
eqs. 4.4-4.6 and D.10-D.12, :func:`spelke.losses.ppmp_loss`), over N = 3 relaxed-categorical samples of
the masks, plus beta times the KL to the uniform prior, beta annealed from 0.1 to -0.1 over 5k
iterations. There is no K-to-2 merge: the K masks are the instance decomposition, cleaned by connected
components at evaluation (:func:`postprocess_components`, thesis l.959).

Presets (``spelke/configs/ppmp/``): the dataclass defaults are the paper's Mask2Former + 6-layer CNN
(``sacnn``) settings for CLEVR / ClevrTex / MOVi-A,C (l.989, App. D.3: K = 11, 128x128, AdamW, batch 32,
250k iterations, warm-up 5k, lr / 10 after 200k, clip 0.01; the learning rate is the released config's
3e-5, not the printed 3e-6: docs/fidelity.md); ``paper-unet`` is the U-Net row of Table D.1a;
``cpu`` is a small U-Net that learns on 96x96 Moving ClevrTex in minutes on a laptop CPU.

An appearance model's objective can add this loss through :meth:`PPMP.motion_loss` (Table 4.3c: "GNM +
our loss", "SA + our loss"): it takes the mask logits of any model and the batch flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from spelke.engine.method import OptimSettings
from spelke.engine.schedules import Step
from spelke.engine.types import Batch
from spelke.errors import ConfigError
from spelke.methods.gwm import FlowSupervised, upsample_logits
from spelke.methods.registry import register_method

#: K per dataset (thesis Ch. 4, l.989).
PAPER_NUM_SLOTS = {
    "clevr": 11,
    "clevrtex": 11,
    "movi-a": 11,
    "movi-c": 11,
    "movi-d": 24,
    "movi-e": 24,
    "kitti": 22,
}


@dataclass
class PPMPConfig:
    """PPMP settings; defaults are the paper's (thesis App. D.3 unless noted).

    Attributes:
        segmenter: registered segmenter (thesis: Mask2Former semantic head -> ``mask2former``).
        backbone: backbone of the query segmenter (thesis: the 6-layer CNN of Slot Attention -> ``sacnn``).
        backbone_options: extra backbone options.
        pretrained: local backbone weights file; None: random initialisation (thesis: from scratch).
        segmenter_options: extra segmenter options (e.g. ``base_width`` of the U-Net).
        num_masks: K, the number of slots (l.989: 11 on CLEVR/ClevrTex/MOVi-A,C; 24 MOVi-D,E; 22 KITTI).
        input_size: network input (H, W) (MOVi, ClevrTex: 128x128).
        flow_size: grid of the flow in the loss; null: the input size.
        flow_clip: clip flow to +-this many pixels; null: no clipping (thesis: none).
        flow_backend: flow cache to train on (thesis: ground truth for synthetic data); null: the only one.
        gaps: flow gaps, one drawn per iteration (released code: 1, 2, -1, -2).
        hflip: random horizontal flips of frame and flow (u negated); not in the thesis (App. D.3 names
            no augmentation), off in the paper presets.
        zoom: ``[low, high]``: crop a random fraction in this range of each side of the frame (and of
            its flow, whose vectors scale with the zoom) and resize it back to the input; null: no zoom.
            Not in the thesis; off in the paper presets.
        motion_model: affine (thesis default) or translation (Table 4.3b).
        prior: covariance preset (:data:`spelke.losses.PPMP_PRIORS`); null: the model's generic prior
            (affine: Sigma = diag(0.005, 0.05, 15, 0.05, 0.005, 15), App. D.3).
        sigma2: noise variance sigma^2 (App. D.3: 0.5).
        beta_start, beta_end, beta_steps: linear KL-weight annealing (l.3045: 0.1 to -0.1 over 5k).
        num_samples: Gumbel-softmax samples per image (l.957: 3).
        temperature: Gumbel-softmax temperature (not in the thesis; released code: 1.0).
        loss_reduction: sum (over pixels, as the released code) or mean (divided by H*W).
        loss_weight: multiplier of the whole loss (not in the thesis: 1).
        lr: peak AdamW learning rate (thesis prints 3e-6; the released config 3e-5: docs/fidelity.md).
        warmup_steps: linear warm-up steps (App. D.3: 5k).
        warmup_start: learning rate at step 0 (released code: factor 1e-6).
        lr_milestones: steps at which the rate is divided by 10 (App. D.3: 200k).
        weight_decay: AdamW weight decay (released code: 0.01).
        batch_size: batch size (App. D.3: 32).
        max_steps: training iterations (App. D.3: 250k).
        grad_clip: clip the gradient 2-norm at this value (App. D.3: 0.01).
        postprocess: connected-component clean-up at inference (l.959; the tables' dagger rows).
        min_area: components smaller than this fraction of the image join the largest mask (l.959: 0.1%).
    """

    segmenter: str = "mask2former"
    backbone: str = "sacnn"
    backbone_options: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None
    segmenter_options: dict[str, Any] = field(default_factory=dict)
    num_masks: int = 11
    input_size: tuple[int, int] = (128, 128)
    flow_size: tuple[int, int] | None = None
    flow_clip: float | None = None
    flow_backend: str | None = None
    gaps: tuple[int, ...] = (1, 2, -1, -2)
    hflip: bool = False
    zoom: tuple[float, float] | None = None
    motion_model: str = "affine"
    prior: str | None = None
    sigma2: float = 0.5
    beta_start: float = 0.1
    beta_end: float = -0.1
    beta_steps: int = 5000
    num_samples: int = 3
    temperature: float = 1.0
    loss_reduction: str = "sum"
    loss_weight: float = 1.0
    lr: float = 3e-5
    warmup_steps: int = 5000
    warmup_start: float = 3e-11
    lr_milestones: tuple[int, ...] = (200000,)
    weight_decay: float = 0.01
    batch_size: int = 32
    max_steps: int = 250000
    grad_clip: float | None = 0.01
    postprocess: bool = True
    min_area: float = 0.001
    # unused by PPMP; kept so that spelke segment's K->2 merge can run on PPMP checkpoints too
    merge_features: str | None = None
    merge_weights: str | None = None
    foreground: str = "border"

    def __post_init__(self) -> None:
        from spelke.losses import PPMP_PRIORS, ppmp_prior

        if self.num_masks < 2:
            raise ConfigError(
                f"num_masks (K) must be at least 2, got {self.num_masks}; the paper uses "
                + ", ".join(f"{k} for {d}" for d, k in PAPER_NUM_SLOTS.items())
            )
        if self.motion_model not in ("affine", "translation"):
            raise ConfigError(f"motion_model must be affine or translation, got {self.motion_model!r}")
        if self.prior is not None:
            p = ppmp_prior(self.prior)  # unknown names raise with the valid list
            if p.motion_model != self.motion_model:
                valid = [n for n in PPMP_PRIORS if ppmp_prior(n).motion_model == self.motion_model]
                raise ConfigError(
                    f"prior {self.prior!r} is for the {p.motion_model} model, not {self.motion_model}; "
                    f"valid for {self.motion_model}: {', '.join(valid)}"
                )
        if self.loss_reduction not in ("sum", "mean"):
            raise ConfigError(f"loss_reduction must be sum or mean, got {self.loss_reduction!r}")
        if not 0 <= self.min_area < 1:
            raise ConfigError(f"min_area is a fraction of the image in [0, 1), got {self.min_area}")
        if self.beta_steps < 0:
            raise ConfigError(f"beta_steps must be at least 0, got {self.beta_steps}")
        if not self.gaps or any(int(g) == 0 for g in self.gaps):
            raise ConfigError(
                f"gaps must be non-zero frame gaps such as [1, 2, -1, -2], got {list(self.gaps)}"
            )
        for name in ("max_steps", "batch_size", "num_samples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.sigma2 <= 0 or self.temperature <= 0:
            raise ConfigError(
                f"sigma2 and temperature must be positive, got {self.sigma2}, {self.temperature}"
            )


def postprocess_components(labels: np.ndarray, num_masks: int, min_area: float = 0.001) -> np.ndarray:
    """PPMP's post-processing (thesis l.959): split each predicted mask into connected components, keep
    the K largest, and merge those beyond K and those smaller than ``min_area`` of the image into the
    largest component overall. ``labels`` is an (H, W) argmax map; returns labels 1..<=K by size.

    Connectivity is 8-connected (the released code's ``skimage.measure.label`` default in 2D).
    """
    from scipy import ndimage

    lab = np.asarray(labels)
    h, w = lab.shape
    comps = np.zeros((h, w), np.int64)
    n = 0
    for v in np.unique(lab):
        cc, k = ndimage.label(lab == v, structure=np.ones((3, 3), bool))
        comps[cc > 0] = cc[cc > 0] + n
        n += k
    sizes = np.bincount(comps.ravel(), minlength=n + 1)[1:]
    order = np.argsort(-sizes, kind="stable")  # component ids - 1, largest first
    new = np.zeros(n + 1, np.int64)
    for rank, c in enumerate(order):
        keep = rank < num_masks and sizes[c] >= min_area * h * w
        new[c + 1] = rank + 1 if keep else 1  # dropped ones join the largest component
    out = new[comps]
    # relabel densely (1..M), keeping the size order of the kept ranks
    _, dense = np.unique(out, return_inverse=True)
    return dense.reshape(h, w).astype(np.int64) + 1


@register_method(
    "ppmp",
    summary="Probable Motion Patterns (thesis Ch. 4): K slots whose flow is probable under a motion prior",
)
class PPMP(FlowSupervised):
    """PPMP on the engine: eq. (4.1) with Gumbel-softmax samples, one random flow gap per iteration."""

    name = "ppmp"
    config_class = PPMPConfig
    output_kind = "instances"

    def beta(self, step: int) -> float:
        """KL weight at ``step`` (thesis l.3045: linear from 0.1 to -0.1 over 5k iterations, then held)."""
        from spelke.losses import ppmp_beta

        c = self.config
        return ppmp_beta(step, start=c.beta_start, end=c.beta_end, steps=c.beta_steps)

    def motion_loss(
        self, logits: torch.Tensor, flow: torch.Tensor, step: int, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Eq. (4.1) for mask logits ``(B, K, h, w)`` of any model against flow ``(B, 2, H, W)`` (pixels of
        the flow grid): ``{"loss", "nll", "kl"}``. The seam for adding PPMP to an appearance model."""
        from spelke.losses import ppmp_loss

        c = self.config
        logits = upsample_logits(logits, tuple(flow.shape[-2:]))
        return ppmp_loss(
            logits,
            flow,
            motion_model=c.motion_model,
            prior=c.prior,
            sigma2=c.sigma2,
            beta=self.beta(step),
            temperature=c.temperature,
            num_samples=c.num_samples,
            generator=generator,
            reduction=c.loss_reduction,
        )

    def training_loss(self, model: nn.Module, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        if batch.flow is None:
            raise ConfigError("PPMP needs flow in every batch; train on a dataset with cached flow")
        out = model(batch.image)
        terms = self.motion_loss(out.logits, batch.flow, step)
        return {
            "loss": self.config.loss_weight * terms["loss"],
            "nll": terms["nll"].detach(),
            "kl": terms["kl"].detach(),
            "beta": torch.tensor(self.beta(step)),
        }

    def optim_settings(self) -> OptimSettings:
        c = self.config
        return OptimSettings(
            lr=Step(c.lr, tuple(c.lr_milestones), 0.1, c.warmup_steps, c.warmup_start),
            weight_decay=c.weight_decay,
            grad_clip=c.grad_clip,
            batch_size=c.batch_size,
            max_steps=c.max_steps,
        )
