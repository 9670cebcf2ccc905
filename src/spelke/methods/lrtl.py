"""Learning segmentation from point trajectories (LRTL): GWM's flow loss plus a low-rank trajectory loss.

Thesis Ch. 5 and App. E (spec: specs/lrtl-ovdiff.md Part A). The network sees one RGB frame; flow
(eq. 5.2), long-term point tracks queried in that frame (eq. 5.4: the masked track matrix of each
component should be of low rank) and a second frame ``dt`` later (eq. 5.7: masks should agree along the
tracks) enter only the loss, with weights 0.03 / 5e-5 / 0.1 (App. E, l.3316). Weights are averaged (EMA,
power 2/3 after 1.5k steps, every 10 steps) and the averaged weights are the ones exported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from spelke.engine.data import MotionFrames
from spelke.engine.ema import EMAConfig
from spelke.engine.method import OptimSettings, TrainableMethod
from spelke.engine.schedules import WarmupPoly
from spelke.engine.types import Batch
from spelke.errors import ConfigError
from spelke.methods.gwm import build_segmenter, resolve_flow_backend, upsample_logits
from spelke.methods.registry import register_method


@dataclass
class LRTLConfig:
    """LRTL settings; defaults are the paper's (thesis App. E, l.3316, unless noted).

    Attributes:
        segmenter: registered segmenter (thesis: MaskFormer + DINO, as GWM -> ``query``).
        backbone: backbone of the query segmenter (thesis: DINO ViT-B/8, stride 4).
        backbone_options: extra backbone options.
        pretrained: local backbone weights file; None: random initialisation.
        segmenter_options: extra segmenter options (e.g. ``base_width`` of the U-Net).
        num_masks: K (App. E: 4).
        input_size: network input (H, W) (App. E: 192x352).
        flow_size: grid of the flow in the loss; null: the input size (not restated in Ch. 5).
        flow_clip: clip flow to +-this many pixels (GWM's released code: 20); null: no clipping.
        flow_backend: flow cache to train on (thesis: RAFT); null: the dataset's only cached backend.
        gaps: flow gaps, one drawn per iteration (DAVIS/STv2: -2, -1, 1, 2).
        tracker: track cache to read (thesis: CoTracker v2; spelke's default tracker: flow-chain).
        track_tag: config folder of the track cache; null: the only one cached for ``tracker``.
        track_points: at most this many tracks per frame (random subset per draw); null: all.
        rank: r, singular values kept free (eq. 5.4, l.1255: 5).
        drop: which singular values are penalised: top-r (all but the r largest) or top-r-minus-1.
        next_offset: dt of the temporal smoothing loss (l.3316: 5 frames).
        flow_weight: lambda_f (l.3316: 0.03).
        trajectory_weight: lambda_t (l.3316: 5e-5).
        temporal_weight: lambda_tau (l.3316: 0.1).
        motion_model: GWM motion model for the flow loss (eq. 5.1: quadratic).
        loss_form: flow loss form: code (GWM released code: MSE, squared weights; default), ch5 (eq. 5.2 summed) or exact (eq. 3.3).
        coords: coordinate normalisation of the motion model.
        hflip: random horizontal flips of frame, flow and tracks (l.3316).
        lr: peak AdamW learning rate (1.5e-4).
        warmup_steps: linear warm-up steps (1.5k).
        warmup_start: learning rate at step 0 (GWM: 1e-6).
        poly_power: decay after warm-up (unspecified for LRTL; GWM's polynomial decay).
        weight_decay: AdamW weight decay (0.01).
        batch_size: batch size (8).
        max_steps: training iterations (5000).
        grad_clip: gradient 2-norm clip (unspecified for LRTL; GWM: 0.01).
        ema_power: EMA decay power (2/3; SegTrackv2: 4/5); null: no EMA.
        ema_start: EMA warm-up steps (1500).
        ema_every: EMA update interval (10).
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
    input_size: tuple[int, int] = (192, 352)
    flow_size: tuple[int, int] | None = None
    flow_clip: float | None = 20.0
    flow_backend: str | None = None
    gaps: tuple[int, ...] = (1, -1, 2, -2)
    tracker: str = "flow-chain"
    track_tag: str | None = None
    track_points: int | None = None
    rank: int = 5
    drop: str = "top-r"
    next_offset: int = 5
    flow_weight: float = 0.03
    trajectory_weight: float = 5e-5
    temporal_weight: float = 0.1
    motion_model: str = "quadratic"
    loss_form: str = "code"
    coords: str = "unit"
    hflip: bool = True
    lr: float = 1.5e-4
    warmup_steps: int = 1500
    warmup_start: float = 1e-6
    poly_power: float = 0.9
    weight_decay: float = 0.01
    batch_size: int = 8
    max_steps: int = 5000
    grad_clip: float | None = 0.01
    ema_power: float | None = 2 / 3
    ema_start: int = 1500
    ema_every: int = 10
    merge_features: str | None = None
    merge_weights: str | None = None
    foreground: str = "border"

    def __post_init__(self) -> None:
        if self.num_masks < 2:
            raise ConfigError(f"num_masks (K) must be at least 2, got {self.num_masks}")
        if self.rank < 1:
            raise ConfigError(f"rank must be at least 1, got {self.rank}")
        if self.drop not in ("top-r", "top-r-minus-1"):
            raise ConfigError(f"drop must be top-r or top-r-minus-1, got {self.drop!r}")
        if self.foreground not in ("border", "smaller"):
            raise ConfigError(f"foreground must be border or smaller, got {self.foreground!r}")
        for name in ("max_steps", "batch_size", "ema_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.next_offset < 0:
            raise ConfigError(
                f"next_offset must be >= 0 (0 switches the temporal loss off), got {self.next_offset}"
            )


def resolve_track_tag(root: Any, tracker: str, tag: str | None) -> str:
    from spelke.motion.track_cache import available_tags

    if tag is not None:
        return tag
    tags = available_tags(root, tracker)
    if len(tags) == 1:
        return tags[0]
    if not tags:
        raise ConfigError(
            f"no '{tracker}' tracks cached under {root}/tracks; compute them first, e.g. "
            f"spelke tracks --root {root} --dataset NAME --tracker {tracker}"
        )
    raise ConfigError(
        f"{root}/tracks/{tracker} holds several configs ({', '.join(tags)}); choose one with track_tag=TAG"
    )


@register_method(
    "lrtl", summary="Learning from point trajectories (thesis Ch. 5): flow + low-rank track losses"
)
class LRTL(TrainableMethod):
    """LRTL on the engine: lambda_f L_f + lambda_t L_t + lambda_tau L_tau (thesis Sec. 5.3, App. E)."""

    name = "lrtl"
    config_class = LRTLConfig
    needs_flow = True
    needs_tracks = True

    def build_model(self) -> nn.Module:
        return build_segmenter(self.config)

    def make_dataset(
        self, dataset: Any, *, seed: int = 0, sequences: list[str] | None = None
    ) -> MotionFrames:
        c = self.config
        backend = resolve_flow_backend(dataset, c.flow_backend) if c.flow_weight > 0 else None
        tag = resolve_track_tag(dataset.root, c.tracker, c.track_tag)
        return MotionFrames(
            dataset,
            c.input_size,
            flow_backend=backend,
            gaps=c.gaps,
            flow_size=c.flow_size,
            flow_clip=c.flow_clip,
            tracks=(c.tracker, tag),
            track_points=c.track_points,
            next_offset=c.next_offset if c.temporal_weight > 0 else None,
            hflip=c.hflip,
            sequences=sequences,
            seed=seed,
        )

    def training_loss(self, model: nn.Module, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        from spelke.losses import gwm_loss, temporal_loss, trajectory_loss

        c = self.config
        if batch.tracks is None or batch.query is None:
            raise ConfigError("LRTL needs point tracks in every batch; train on a dataset with cached tracks")
        images = batch.image
        two = batch.image_next is not None and c.temporal_weight > 0
        if two:
            images = torch.cat([batch.image, batch.image_next])
        logits = model(images).logits
        b = batch.size
        masks = torch.softmax(logits[:b], dim=1)
        terms: dict[str, torch.Tensor] = {}
        total = logits.new_zeros(())
        if c.flow_weight > 0 and batch.flow is not None:
            fm = torch.softmax(upsample_logits(logits[:b], tuple(batch.flow.shape[-2:])), dim=1)
            lf = gwm_loss(
                fm, batch.flow, model=c.motion_model, form=c.loss_form, coords=c.coords
            )  # eq. (5.2)
            terms["flow"] = lf
            total = total + c.flow_weight * lf
        lt = trajectory_loss(
            masks, batch.tracks, batch.query, valid=batch.track_valid, rank=c.rank, drop=c.drop
        )
        terms["trajectory"] = lt  # eq. (5.4)
        total = total + c.trajectory_weight * lt
        if two:
            ltau = temporal_loss(
                masks,
                torch.softmax(logits[b:], dim=1),
                batch.tracks,
                batch.query,
                batch.next_index,
                valid=batch.track_valid,
            )  # eq. (5.7)
            terms["temporal"] = ltau
            total = total + c.temporal_weight * ltau
        terms["loss"] = total
        return terms

    def optim_settings(self) -> OptimSettings:
        c = self.config
        ema = EMAConfig(power=c.ema_power, start=c.ema_start, every=c.ema_every) if c.ema_power else None
        return OptimSettings(
            lr=WarmupPoly(c.lr, c.max_steps, c.warmup_steps, c.warmup_start, c.poly_power),
            weight_decay=c.weight_decay,
            grad_clip=c.grad_clip,
            batch_size=c.batch_size,
            max_steps=c.max_steps,
            ema=ema,
        )
