"""What the engine needs from a trained method: its model, data, loss and optimisation settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from spelke.engine.ema import EMAConfig
from spelke.engine.schedules import Schedule
from spelke.engine.types import Batch, ModelOutput
from spelke.errors import ConfigError

#: Optimisers the engine builds (:func:`make_optimizer`).
OPTIMIZERS = ("adamw", "adam", "rmsprop")


@dataclass(frozen=True)
class OptimSettings:
    """The optimiser and the loop: the learning-rate schedule, weight decay, clipping, batch, steps, EMA.

    ``optimizer`` is ``"adamw"`` (the default: GWM, LRTL, PPMP), ``"adam"`` (Slot Attention, IODINE,
    GENESIS-v2, eMORL; ``weight_decay`` is then an L2 term) or ``"rmsprop"`` (MONet; PyTorch's defaults
    alpha 0.99, eps 1e-8).
    """

    lr: Schedule
    weight_decay: float = 0.01
    grad_clip: float | None = None
    batch_size: int = 8
    max_steps: int = 1000
    ema: EMAConfig | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    optimizer: str = "adamw"

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")


class TrainableMethod:
    """Base class of every method the engine trains (GWM, LRTL, PPMP, the ClevrTex zoo).

    Subclasses set :attr:`name` and implement :meth:`build_model`, :meth:`make_dataset` and
    :meth:`training_loss`. Non-gradient training state (GECO multipliers, running statistics) goes in
    :meth:`state_dict` / :meth:`load_state_dict` and is saved in checkpoints.
    """

    name: ClassVar[str] = ""

    def __init__(self, config: Any) -> None:
        self.config = config

    # -- to implement --------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        """The model's registered name, stored in the checkpoint header."""
        return str(getattr(self.config, "segmenter", "model"))

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def make_dataset(self, dataset: Any, *, seed: int = 0, sequences: list[str] | None = None) -> Any:
        raise NotImplementedError

    def training_loss(self, model: nn.Module, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Loss terms by name; ``"loss"`` is the one optimised."""
        raise NotImplementedError

    def optim_settings(self) -> OptimSettings:
        raise NotImplementedError

    # -- defaults ------------------------------------------------------------------------------------

    def forward(self, model: nn.Module, images: torch.Tensor) -> ModelOutput:
        return model(images)

    def pictures(self, model: nn.Module, batch: Batch, step: int) -> dict[str, Any]:
        """Pictures to save after ``step`` (name -> ``(H, W, 3)`` uint8), e.g. a sample decomposition.

        The engine writes each to ``<run>/<name>/step_<step:06d>.png`` and to TensorBoard. Called after
        every :meth:`training_loss`; return ``{}`` on the steps without pictures (the default: never).
        """
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None

    def config_dict(self) -> dict[str, Any]:
        return config_to_dict(self.config)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON/YAML-able dict of a config dataclass (schedules as ``{"kind": ...}``, tuples as lists)."""

    def conv(v: Any) -> Any:
        if isinstance(v, Schedule):
            return v.to_dict()
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        return v

    return conv(config)


def make_optimizer(model: nn.Module, settings: OptimSettings, lr: float) -> torch.optim.Optimizer:
    """The optimiser ``settings.optimizer`` over ``model``'s parameter groups (:func:`param_groups`)."""
    groups = param_groups(model, settings.weight_decay)
    if settings.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=settings.betas)
    if settings.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr)
    return torch.optim.AdamW(groups, lr=lr, betas=settings.betas)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on norms, biases, embeddings and learned queries (as detectron2)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        low = name.lower()
        if p.ndim <= 1 or any(
            s in low for s in ("pos_embed", "cls_token", "query_embed", "query_feat", "level_embed", "norm")
        ):
            no_decay.append(p)
        else:
            decay.append(p)
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups
