"""The ClevrTex model zoo on the training engine: one trainable method per object-centric model.

Each model of :mod:`spelke.models.zoo` (Slot Attention, MONet, IODINE, GENESIS-v2, EfficientMORL) is
registered as a method under its model name, so that ``spelke train slot-attention --dataset clevrtex
--root DATA --preset cpu`` trains it, ``spelke segment`` / :func:`spelke.methods.segment.segment_stills`
runs it, and ``spelke bench clevrtex`` (:mod:`spelke.bench`) benchmarks it (thesis Ch. 2).

The loss is the model's own ``objective`` (GECO for GENESIS-v2 and eMORL, whose multipliers are model
buffers and so travel in every checkpoint; eMORL's refinement curriculum reads the step from a buffer
too). The optimiser and learning-rate schedule are each paper's (:attr:`paper_config` of the model):

======================  ==========  =======  ===================================  =====  ======  ======
method                  optimiser   lr       schedule                             batch  steps   clip
======================  ==========  =======  ===================================  =====  ======  ======
``slot-attention``      Adam        4e-4     warm-up 10k, ``0.5 ** (step/100k)``   64     500k    none
``monet``               RMSProp     1e-4     constant                             64     300k    none
``iodine``              Adam        3e-4     constant                             32     300k    5
``genesis-v2``          Adam        1e-4     constant                             32     500k    none
``emorl``               Adam        4e-4     warm-up 10k, ``0.5 ** (step/100k)``   32     500k    5
======================  ==========  =======  ===================================  =====  ======  ======

Every ``sample_every`` steps the run writes a picture of a sample decomposition (image, reconstruction,
segmentation, and each slot's mask times its reconstruction) to ``<run>/samples/step_XXXXXX.png`` and
TensorBoard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from spelke.data.clevrtex_layout import VARIANT_KEYS
from spelke.engine.data import ImageFrames
from spelke.engine.method import OPTIMIZERS, OptimSettings, TrainableMethod
from spelke.engine.schedules import ExponentialDecay
from spelke.engine.types import Batch, ModelOutput
from spelke.errors import ConfigError
from spelke.methods.registry import register_method

__all__ = [
    "ZOO_METHODS",
    "EMORLMethod",
    "ExponentialDecay",
    "GenesisV2Method",
    "IODINEMethod",
    "MONetMethod",
    "ObjectCentricConfig",
    "ObjectCentricMethod",
    "SlotAttentionMethod",
    "decomposition_picture",
]

#: The zoo's method names (= model names), in the thesis' table order.
ZOO_METHODS = ("genesis-v2", "emorl", "monet", "slot-attention", "iodine")

#: Model-config fields the method owns (set them on the method's config, not in ``model_options``).
_TRAINING_FIELDS = {
    "num_slots": "num_slots",
    "image_size": "input_size",
    "learning_rate": "lr",
    "batch_size": "batch_size",
    "max_steps": "max_steps",
    "train_steps": "max_steps",
    "warmup_steps": "warmup_steps",
    "lr_warmup_steps": "warmup_steps",
    "decay_rate": "decay_rate",
    "lr_decay_rate": "decay_rate",
    "decay_steps": "decay_steps",
    "lr_decay_steps": "decay_steps",
    "grad_clip": "grad_clip",
    "dataset": "dataset",
}

#: Dataset names the ``dataset`` field accepts (ClevrTex variant keys and aliases, ``clevrtex`` = full).
_DATASETS = ("clevrtex", *VARIANT_KEYS)


def _variant_of(dataset: str) -> str:
    """The ClevrTex variant key a ``dataset`` field names (``clevrtex`` -> ``full``, ``plainbg`` -> ``pbg``)."""
    d = str(dataset).strip().lower()
    return "full" if d == "clevrtex" else VARIANT_KEYS[d]


# ----------------------------------------------------------------------------------------------------------
# Configs


_CONFIG_DOC = """{title}

    Defaults are the paper settings ({source}); the network's own options go in ``model_options``
    (see ``{factory}`` and docs/zoo.md), the optimisation fields here.

    Attributes:
        num_slots: K, the number of slots/components ({k_source}).
        input_size: network input (H, W) (thesis Table 2.2: 128 x 128; ClevrTex images are square crops).
        model_options: the model's own options, passed to ``create_object_centric("{model}", ...)``
            (e.g. ``{example}``); training fields are refused there.
        dataset: the ClevrTex variant the settings are for ({dataset_note}); ``spelke bench`` sets it to
            the training variant.
        optimizer: adamw, adam or rmsprop ({opt_source}).
        lr: peak learning rate ({lr_source}).
        warmup_steps: linear learning-rate warm-up from 0 ({warm_source}).
        decay_rate: the rate is multiplied by ``decay_rate ** (step / decay_steps)`` (1: no decay; {decay_source}).
        decay_steps: see decay_rate.
        weight_decay: weight decay (an L2 term with Adam/RMSProp; none in the papers).
        grad_clip: clip the gradient 2-norm at this value; null: no clipping ({clip_source}).
        batch_size: images per batch ({batch_source}).
        max_steps: training iterations ({steps_source}).
        sample_every: write a sample decomposition picture every this many steps (0: never; not a paper
            setting).
        sample_images: images in each sample picture.
    """


@dataclass
class ObjectCentricConfig:
    """Settings shared by the zoo methods (subclasses set the paper defaults per model)."""

    model: ClassVar[str] = ""

    num_slots: int = 11
    input_size: tuple[int, int] = (128, 128)
    model_options: dict[str, Any] = field(default_factory=dict)
    dataset: str = "clevrtex"
    optimizer: str = "adam"
    lr: float = 4e-4
    warmup_steps: int = 0
    decay_rate: float = 1.0
    decay_steps: int = 100_000
    weight_decay: float = 0.0
    grad_clip: float | None = None
    batch_size: int = 32
    max_steps: int = 500_000
    sample_every: int = 1000
    sample_images: int = 4

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise ConfigError(f"input_size must be (H, W) with positive sizes, got {self.input_size}")
        for name in ("num_slots", "batch_size", "max_steps", "decay_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "sample_every", "sample_images"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0 or self.decay_rate <= 0:
            raise ConfigError(f"lr and decay_rate must be positive, got {self.lr}, {self.decay_rate}")
        if str(self.dataset).lower() not in _DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}; use one of {', '.join(_DATASETS)}")
        self._check_model_options()

    def _check_model_options(self) -> None:
        if not isinstance(self.model_options, dict):
            raise ConfigError(f"model_options must be a mapping, got {self.model_options!r}")
        owned = sorted(k for k in self.model_options if k in _TRAINING_FIELDS)
        if owned:
            raise ConfigError(
                f"{', '.join(owned)} in model_options: set "
                f"{', '.join(sorted({_TRAINING_FIELDS[k] for k in owned}))} on the {self.model} config instead"
            )
        valid = model_option_names(self.model)
        unknown = sorted(set(self.model_options) - set(valid))
        if unknown:
            raise ConfigError(
                f"unknown model option(s) {', '.join(unknown)} for {self.model}; valid: {', '.join(valid)}"
            )


def model_option_names(model: str) -> list[str]:
    """The options ``model_options`` may hold for ``model`` (its config fields but the training ones)."""
    from dataclasses import fields

    cls = _model_class(model)
    names = [f.name for f in fields(cls.paper_config) if f.name not in _TRAINING_FIELDS]
    if model in ("genesis-v2", "emorl"):
        names.append("geco_target")
    return sorted(names)


def _model_class(model: str) -> Any:
    if model == "slot-attention":
        from spelke.models.zoo.slot_attention import SlotAttentionAE as cls
    elif model == "monet":
        from spelke.models.zoo.monet import MONet as cls
    elif model == "iodine":
        from spelke.models.zoo.iodine import IODINE as cls
    elif model == "genesis-v2":
        from spelke.models.zoo.genesis_v2 import GenesisV2 as cls
    elif model == "emorl":
        from spelke.models.zoo.emorl import EMORL as cls
    else:
        raise ConfigError(f"unknown zoo model {model!r}; zoo models: {', '.join(ZOO_METHODS)}")
    return cls


def _doc(**kw: str) -> Any:
    def deco(cls: type) -> type:
        cls.__doc__ = _CONFIG_DOC.format(model=cls.model, **kw)
        return cls

    return deco


@_doc(
    title="Slot Attention (Locatello et al. 2020) on the engine.",
    source="paper App. E; thesis App. B.3.3 keeps the original optimiser settings",
    factory="spelke.models.zoo.slot_attention.SlotAttentionConfig",
    k_source="thesis App. B.3.3: 11 slots on all tests",
    example="{hidden: 32, slot_dim: 32, decoder_upsamples: 3}",
    dataset_note="not read by Slot Attention",
    opt_source="paper App. E: Adam",
    lr_source="paper App. E: 4e-4",
    warm_source="paper App. E: 10k",
    decay_source="paper App. E: 0.5 per 100k",
    clip_source="paper: none",
    batch_source="paper App. E: 64",
    steps_source="paper App. E, thesis App. B.3.3: 500k",
)
@dataclass
class SlotAttentionMethodConfig(ObjectCentricConfig):
    model: ClassVar[str] = "slot-attention"

    optimizer: str = "adam"
    lr: float = 4e-4
    warmup_steps: int = 10_000
    decay_rate: float = 0.5
    decay_steps: int = 100_000
    grad_clip: float | None = None
    batch_size: int = 64
    max_steps: int = 500_000


@_doc(
    title="MONet (Burgess et al. 2019) on the engine.",
    source="paper App. B; thesis App. B.3.3: 300k iterations",
    factory="spelke.models.zoo.monet.MONetConfig",
    k_source="the ClevrTex code's 11; the thesis does not state K",
    example="{attention_blocks: 4, attention_base_width: 16}",
    dataset_note="not read by MONet",
    opt_source="paper App. B: RMSProp",
    lr_source="paper App. B: 1e-4",
    warm_source="paper: none",
    decay_source="paper: none",
    clip_source="paper: none",
    batch_source="paper App. B: 64; the thesis used 63 over 3 GPUs",
    steps_source="thesis App. B.3.3: 300k instead of 1M",
)
@dataclass
class MONetMethodConfig(ObjectCentricConfig):
    model: ClassVar[str] = "monet"

    optimizer: str = "rmsprop"
    lr: float = 1e-4
    batch_size: int = 64
    max_steps: int = 300_000


@_doc(
    title="IODINE (Greff et al. 2019) on the engine.",
    source="paper App.; thesis App. B.3.3: the original configuration, 300k iterations",
    factory="spelke.models.zoo.iodine.IODINEConfig",
    k_source="the ClevrTex code's 11; the thesis does not state K",
    example="{num_iterations: 3, latent_dim: 16}",
    dataset_note="not read by IODINE",
    opt_source="paper App.: Adam",
    lr_source="paper App.: 3e-4",
    warm_source="paper: none",
    decay_source="paper: none",
    clip_source="ClevrTex code: 5",
    batch_source="paper App., ClevrTex code: 32",
    steps_source="thesis App. B.3.3: 300k instead of 1M",
)
@dataclass
class IODINEMethodConfig(ObjectCentricConfig):
    model: ClassVar[str] = "iodine"

    optimizer: str = "adam"
    lr: float = 3e-4
    grad_clip: float | None = 5.0
    batch_size: int = 32
    max_steps: int = 300_000


@_doc(
    title="GENESIS-v2 (Engelcke et al. 2021) on the engine.",
    source="GENESIS-v2 and the ClevrTex code; thesis App. B.3.3 for sigma_x and the GECO goal",
    factory="spelke.models.zoo.genesis_v2.GenesisV2Config",
    k_source="the ClevrTex code's 11",
    example="{feat_dim: 32}",
    dataset_note="selects the GECO goal: 0.5655 on clevr and pbg, 0.5 on the textured variants",
    opt_source="GENESIS-v2: Adam",
    lr_source="GENESIS-v2, ClevrTex code: 1e-4",
    warm_source="none",
    decay_source="none",
    clip_source="none in the GENESIS-v2 settings",
    batch_source="ClevrTex code: 32",
    steps_source="ClevrTex code: 500k",
)
@dataclass
class GenesisV2MethodConfig(ObjectCentricConfig):
    model: ClassVar[str] = "genesis-v2"

    optimizer: str = "adam"
    lr: float = 1e-4
    batch_size: int = 32
    max_steps: int = 500_000


@_doc(
    title="EfficientMORL (Emami et al. 2021) on the engine.",
    source="eMORL and the ClevrTex code; thesis App. B.3.3 for K, the size and the GECO targets",
    factory="spelke.models.zoo.emorl.EMORLConfig",
    k_source="thesis App. B.3.3: increased to 11",
    example="{z_dim: 16, refinement_curriculum: [[0, 1]]}",
    dataset_note="selects the GECO target: -108 000 / 3·128² on clevr and pbg, -61 000 on vbg and "
    "grassbg, -73 000 on full, outd and camo",
    opt_source="eMORL: Adam",
    lr_source="ClevrTex code: 4e-4",
    warm_source="eMORL code: 10k",
    decay_source="eMORL code: 0.5 per 100k",
    clip_source="eMORL: 5",
    batch_source="ClevrTex code: 32",
    steps_source="ClevrTex code: 500k",
)
@dataclass
class EMORLMethodConfig(ObjectCentricConfig):
    model: ClassVar[str] = "emorl"

    optimizer: str = "adam"
    lr: float = 4e-4
    warmup_steps: int = 10_000
    decay_rate: float = 0.5
    decay_steps: int = 100_000
    grad_clip: float | None = 5.0
    batch_size: int = 32
    max_steps: int = 500_000


# ----------------------------------------------------------------------------------------------------------
# Methods


class ObjectCentricMethod(TrainableMethod):
    """A zoo model on the engine: images in, the model's own objective as the loss."""

    config_class: ClassVar[type] = ObjectCentricConfig
    #: What ``spelke train`` opens: single images (an image dataset), not sequences.
    input_kind: ClassVar[str] = "images"
    needs_flow: ClassVar[bool] = False
    needs_tracks: ClassVar[bool] = False
    #: ``spelke segment`` writes the K-way argmax as instance labels.
    output_kind: ClassVar[str] = "instances"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._sample: tuple[torch.Tensor, ModelOutput] | None = None

    @property
    def model_name(self) -> str:
        return self.config.model

    def build_model(self) -> nn.Module:
        from spelke.models.zoo import create_object_centric

        c = self.config
        options = dict(c.model_options)
        if c.model in ("genesis-v2", "emorl"):
            options["dataset"] = c.dataset
        return create_object_centric(
            c.model, num_slots=c.num_slots, image_size=tuple(c.input_size), **options
        )

    def make_dataset(self, dataset: Any, *, seed: int = 0, sequences: list[str] | None = None) -> Any:
        if sequences is not None:
            raise ConfigError(f"{self.name} trains on single images; it takes no sequence selection")
        data_variant = getattr(dataset, "variant", None)
        if isinstance(data_variant, str) and data_variant in VARIANT_KEYS.values():
            want = _variant_of(self.config.dataset)
            if data_variant != want:  # the GECO goals (GENESIS-v2, eMORL) are per variant
                raise ConfigError(
                    f"{self.name} is configured for ClevrTex variant {want!r} (dataset={self.config.dataset}) "
                    f"but the data is {data_variant!r}; set dataset={data_variant}"
                )
        return ImageFrames(dataset, tuple(self.config.input_size))

    def _picture_step(self, step: int) -> bool:
        c = self.config
        return (
            c.sample_every > 0
            and c.sample_images > 0
            and (step % c.sample_every == 0 or step == c.max_steps - 1)
        )

    def training_loss(self, model: nn.Module, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        out = model(batch.image)
        terms = model.objective(batch.image, out, step)
        if self._picture_step(step):
            n = self.config.sample_images
            self._sample = (batch.image[:n].detach().cpu(), out.detach(n, cpu=True, extras=False))
        return terms

    def pictures(self, model: nn.Module, batch: Batch, step: int) -> dict[str, Any]:
        if not self._picture_step(step) or self._sample is None:
            return {}
        images, out = self._sample
        self._sample = None
        return {"samples": decomposition_picture(images, out)}

    def optim_settings(self) -> OptimSettings:
        c = self.config
        return OptimSettings(
            lr=ExponentialDecay(c.lr, c.warmup_steps, c.decay_rate, c.decay_steps),
            weight_decay=c.weight_decay,
            grad_clip=c.grad_clip,
            batch_size=c.batch_size,
            max_steps=c.max_steps,
            optimizer=c.optimizer,
        )


@register_method("slot-attention", summary="Slot Attention (Locatello et al. 2020): ClevrTex zoo, images")
class SlotAttentionMethod(ObjectCentricMethod):
    name = "slot-attention"
    config_class = SlotAttentionMethodConfig


@register_method("monet", summary="MONet (Burgess et al. 2019): ClevrTex zoo, images")
class MONetMethod(ObjectCentricMethod):
    name = "monet"
    config_class = MONetMethodConfig


@register_method("iodine", summary="IODINE (Greff et al. 2019): ClevrTex zoo, images")
class IODINEMethod(ObjectCentricMethod):
    name = "iodine"
    config_class = IODINEMethodConfig


@register_method("genesis-v2", summary="GENESIS-v2 (Engelcke et al. 2021): ClevrTex zoo, images, GECO")
class GenesisV2Method(ObjectCentricMethod):
    name = "genesis-v2"
    config_class = GenesisV2MethodConfig


@register_method("emorl", summary="EfficientMORL (Emami et al. 2021): ClevrTex zoo, images, GECO")
class EMORLMethod(ObjectCentricMethod):
    name = "emorl"
    config_class = EMORLMethodConfig


# ----------------------------------------------------------------------------------------------------------
# Pictures


def decomposition_picture(images: torch.Tensor, output: ModelOutput, min_tile: int = 96) -> np.ndarray:
    """A picture of object-centric decompositions, one row per image: the image, the reconstruction,
    the segmentation (argmax of the masks) over the image, then each slot's mask times its
    reconstruction on white (the thesis' qualitative figures, Figs. 2.3, 2.4).

    Args:
        images: ``(N, 3, H, W)`` in [0, 1].
        output: the model's output for them (``logits``; ``slot_recons`` and ``recon`` when present).
        min_tile: tiles smaller than this are enlarged by an integer factor (nearest).

    Returns:
        ``(H', W', 3)`` uint8.
    """
    from spelke.viz.grid import image_grid
    from spelke.viz.overlay import overlay

    images = images.detach().float().cpu().clamp(0, 1)
    n, _, h, w = images.shape
    masks = torch.softmax(output.logits.detach().float().cpu()[:n], dim=1)
    k = masks.shape[1]
    factor = max(1, math.ceil(min_tile / max(h, w)))

    def tile(x: torch.Tensor | np.ndarray) -> np.ndarray:
        a = np.asarray(x)
        if a.ndim == 3 and a.shape[0] == 3:
            a = (np.clip(a.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)
        return np.repeat(np.repeat(a, factor, 0), factor, 1)

    tiles, titles = [], []
    for i in range(n):
        img = images[i]
        labels = masks[i].argmax(0).numpy()
        row = [tile(img.numpy())]
        names = ["image"]
        if output.recon is not None:
            row.append(tile(output.recon[i].detach().float().cpu().clamp(0, 1).numpy()))
            names.append("recon")
        row.append(tile(overlay(img.numpy(), labels, background=None)))
        names.append("masks")
        for s in range(k):
            m = masks[i, s][None]
            rgb = output.slot_recons[i, s].detach().float().cpu() if output.slot_recons is not None else img
            row.append(tile((m * rgb.clamp(0, 1) + (1 - m)).numpy()))
            names.append(f"slot {s + 1}")
        tiles += row
        titles += names if i == 0 else [""] * len(names)
    return image_grid(tiles, ncols=len(tiles) // n, titles=titles)
