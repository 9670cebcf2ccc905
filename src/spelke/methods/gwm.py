"""Guess What Moves (GWM): segment a single frame so that each region's flow fits a simple motion model.

Thesis Ch. 3 and App. C (spec: specs/gwm-ppmp.md Part A). The network sees one RGB frame; optical flow
enters only the loss (eq. 3.3 with the motion parameters solved in closed form, App. C.2), so at test time
it segments still images. Binary benchmarks merge the K components by spectral clustering of their mean
appearance features (eq. 3.6; :mod:`spelke.methods.merge`).

Presets (``spelke/configs/gwm/``): the dataclass defaults are the paper's MaskFormer + DINO ViT-B/8
settings (App. C.1); ``paper-unet`` is the U-Net variant; ``cpu`` is a small U-Net that learns on
Moving ClevrTex in minutes on a laptop CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spelke.engine.data import MotionFrames
from spelke.engine.method import OptimSettings, TrainableMethod
from spelke.engine.schedules import WarmupPoly
from spelke.engine.types import Batch
from spelke.errors import ConfigError
from spelke.methods.registry import register_method


@dataclass
class GWMConfig:
    """GWM settings; defaults are the paper's (thesis App. C.1 unless noted).

    Attributes:
        segmenter: registered segmenter (thesis: MaskFormer head -> ``query``; U-Net variant: ``unet``).
        backbone: backbone of the query segmenter (thesis: DINO ViT-B/8 with stride-4 patches).
        backbone_options: extra backbone options (stride 4, key facets of blocks 6, 8, 10, 12).
        pretrained: local backbone weights file (DINO format); None: random initialisation.
        segmenter_options: extra segmenter options (e.g. ``base_width`` of the U-Net).
        num_masks: K, the number of components (thesis l.776: 4).
        input_size: network input (H, W), bicubic (App. C.1: 128x224).
        flow_size: grid of the flow in the loss, nearest-resized (App. C.1: 480x854); null: input size.
        flow_clip: clip flow to +-this many pixels (released code: 20); null: no clipping.
        flow_backend: flow cache to train on (thesis: RAFT); null: the dataset's only cached backend.
        gaps: frame gaps, one drawn per iteration (App. C.1: -2, -1, 1, 2 for DAVIS/STv2).
        hflip: random horizontal flips of frame and flow (not in GWM; LRTL's l.3316 uses them).
        zoom: ``[low, high]`` random zoom of frame and flow (:class:`spelke.engine.data.MotionFrames`);
            null: none. Not in the thesis.
        motion_model: constant, affine or quadratic (thesis Table 3.2: quadratic).
        loss_form: exact (eq. 3.3), code (released code: squared weights, MSE) or ch5 (eq. 5.2).
        coords: coordinate normalisation of the motion model (released code: unit = arange/H).
        loss_weight: loss multiplier (App. C.1: 0.03).
        lr: peak AdamW learning rate (App. C.1: 1.5e-4).
        warmup_steps: linear warm-up steps (App. C.1: 1.5k).
        warmup_start: learning rate at step 0 (App. C.1: 1e-6).
        poly_power: power of the polynomial decay (not in the thesis; detectron2 default 0.9).
        weight_decay: AdamW weight decay (released code: 0.01).
        batch_size: batch size (App. C.1: 8).
        max_steps: training iterations (App. C.1: 15k).
        grad_clip: clip the gradient 2-norm at this value (App. C.1: 0.01; U-Net: 5.0).
        tta_steps: test-time adaptation steps per sequence (App. C.3.1: 20).
        merge_features: feature extractor for the K->2 merge (thesis: DINO ViT); null: colour features.
        merge_weights: local weights of ``merge_features``.
        foreground: which merged cluster is foreground without ground truth (border or smaller).
    """

    segmenter: str = "query"
    backbone: str = "vit-dino-b8"
    backbone_options: dict[str, Any] = field(default_factory=lambda: {"stride": 4, "layers": [5, 7, 9, 11]})
    pretrained: str | None = None
    segmenter_options: dict[str, Any] = field(default_factory=dict)
    num_masks: int = 4
    input_size: tuple[int, int] = (128, 224)
    flow_size: tuple[int, int] | None = (480, 854)
    flow_clip: float | None = 20.0
    flow_backend: str | None = None
    gaps: tuple[int, ...] = (1, -1, 2, -2)
    hflip: bool = False
    zoom: tuple[float, float] | None = None
    motion_model: str = "quadratic"
    loss_form: str = "exact"
    coords: str = "unit"
    loss_weight: float = 0.03
    lr: float = 1.5e-4
    warmup_steps: int = 1500
    warmup_start: float = 1e-6
    poly_power: float = 0.9
    weight_decay: float = 0.01
    batch_size: int = 8
    max_steps: int = 15000
    grad_clip: float | None = 0.01
    tta_steps: int = 20
    merge_features: str | None = None
    merge_weights: str | None = None
    foreground: str = "border"

    def __post_init__(self) -> None:
        if self.num_masks < 2:
            raise ConfigError(f"num_masks (K) must be at least 2, got {self.num_masks}")
        if self.motion_model not in ("constant", "affine", "quadratic"):
            raise ConfigError(
                f"motion_model must be constant, affine or quadratic, got {self.motion_model!r}"
            )
        if self.loss_form not in ("exact", "code", "ch5"):
            raise ConfigError(f"loss_form must be exact, code or ch5, got {self.loss_form!r}")
        if self.foreground not in ("border", "smaller"):
            raise ConfigError(f"foreground must be border or smaller, got {self.foreground!r}")
        for name in ("max_steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")


def build_segmenter(cfg: Any) -> nn.Module:
    """The configured segmenter (shared by GWM and LRTL)."""
    from spelke.models import create_segmenter

    opts = dict(cfg.segmenter_options)
    if cfg.segmenter in ("query", "maskformer", "mask2former"):
        opts.setdefault("backbone", cfg.backbone)
        bopts = dict(cfg.backbone_options)
        if cfg.pretrained:
            bopts["pretrained"] = cfg.pretrained
        opts.setdefault("backbone_options", bopts)
    return create_segmenter(cfg.segmenter, num_masks=cfg.num_masks, **opts)


def resolve_flow_backend(dataset: Any, backend: str | None) -> str:
    """The flow cache to read: the configured one, else the dataset's only one (else a clear error)."""
    from spelke.motion.cache import available_backends

    have = available_backends(dataset.root) if getattr(dataset, "root", None) else []
    if backend is not None:
        return backend
    if len(have) == 1:
        return have[0]
    if not have:
        raise ConfigError(
            f"no optical flow cached under {dataset.root}/flows; compute it first, e.g. "
            f"spelke flow --root {dataset.root} --dataset NAME --backend dis --gaps 1,-1,2,-2"
        )
    raise ConfigError(
        f"{dataset.root}/flows holds several flow caches ({', '.join(have)}); choose one with flow_backend=NAME"
    )


def upsample_logits(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of mask logits to the flow / annotation grid (App. C.1)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


class FlowSupervised(TrainableMethod):
    """A segmenter trained on single frames with their flow (GWM, PPMP): the configured segmenter and
    :class:`MotionFrames` with one random gap per draw. Subclasses supply the loss and the schedule."""

    needs_flow = True
    needs_tracks = False

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._flow_backend: str | None = config.flow_backend

    def build_model(self) -> nn.Module:
        return build_segmenter(self.config)

    def make_dataset(
        self, dataset: Any, *, seed: int = 0, sequences: list[str] | None = None
    ) -> MotionFrames:
        c = self.config
        self._flow_backend = resolve_flow_backend(dataset, c.flow_backend)
        return MotionFrames(
            dataset,
            c.input_size,
            flow_backend=self._flow_backend,
            gaps=c.gaps,
            flow_size=c.flow_size,
            flow_clip=c.flow_clip,
            hflip=c.hflip,
            zoom=c.zoom,
            sequences=sequences,
            seed=seed,
        )


@register_method(
    "gwm", summary="Guess What Moves (thesis Ch. 3): segment frames so each region's flow is simple"
)
class GWM(FlowSupervised):
    """GWM on the engine: flow-reconstruction loss (thesis eqs. 3.3-3.4), one random gap per iteration."""

    name = "gwm"
    config_class = GWMConfig

    def flow_loss(self, logits: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """GWM's eq. (3.3) loss (without the multiplier) of mask logits against flow."""
        from spelke.losses import gwm_loss

        masks = torch.softmax(upsample_logits(logits, tuple(flow.shape[-2:])), dim=1)  # thesis eq. (3.1)
        return gwm_loss(
            masks, flow, model=self.config.motion_model, form=self.config.loss_form, coords=self.config.coords
        )

    def training_loss(self, model: nn.Module, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        if batch.flow is None:
            raise ConfigError("GWM needs flow in every batch; train on a dataset with cached flow")
        out = model(batch.image)
        lf = self.flow_loss(out.logits, batch.flow)
        return {"loss": self.config.loss_weight * lf, "flow": lf}

    def optim_settings(self) -> OptimSettings:
        c = self.config
        return OptimSettings(
            lr=WarmupPoly(c.lr, c.max_steps, c.warmup_steps, c.warmup_start, c.poly_power),
            weight_decay=c.weight_decay,
            grad_clip=c.grad_clip,
            batch_size=c.batch_size,
            max_steps=c.max_steps,
        )
