"""The backbone contract shared by every segmenter: named multi-scale feature maps.

A backbone maps images ``(B, 3, H, W)`` (float in [0, 1], normalised inside the backbone) to a dict of
feature maps keyed ``"res2"`` .. ``"res5"`` (detectron2's naming: ``res<i>`` nominally at stride 2**i),
with ``out_channels`` and ``out_strides`` saying what each map holds. A ViT with stride-4 overlapping
patches returns four maps at the same stride (GWM's key facets of blocks 6, 8, 10, 12), which is allowed:
decoders read ``out_strides`` instead of assuming a pyramid.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spelke.errors import DataLayoutError, FileFormatError, ShapeError
from spelke.registry import Registry

#: Every backbone: name -> factory ``(pretrained: str | None = None, **options) -> Backbone``.
BACKBONES: Registry[Any] = Registry("backbone")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Backbone(nn.Module):
    """Base class: subclasses set ``out_channels`` / ``out_strides`` and implement ``forward``.

    Attributes:
        out_channels: channels of each returned map, e.g. ``{"res2": 64, ...}``.
        out_strides: stride of each returned map relative to the input, e.g. ``{"res2": 4, ...}``.
        normalize: whether ``forward`` applies the ImageNet mean/std itself (inputs stay in [0, 1]).
    """

    out_channels: dict[str, int]
    out_strides: dict[str, int]

    def __init__(self, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = normalize
        self.register_buffer("_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise [0, 1] images with the ImageNet statistics when ``normalize`` is set."""
        return (x - self._mean) / self._std if self.normalize else x

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError


def register_backbone(name: str, **kwargs: Any):
    """Decorator: register a backbone factory under ``name`` (see :data:`BACKBONES`)."""
    return BACKBONES.register(name, **kwargs)


def create_backbone(name: str, /, pretrained: str | None = None, **options: Any) -> Backbone:
    """Create a registered backbone; ``pretrained`` is a local weight file (or a hub id where supported)."""
    from spelke.models.backbones import _ensure_builtin

    _ensure_builtin()
    return BACKBONES.create(name, pretrained=pretrained, **options)


def list_backbones(pattern: str = "*") -> list[str]:
    from spelke.models.backbones import _ensure_builtin

    _ensure_builtin()
    return BACKBONES.list(pattern)


def load_state_file(
    module: nn.Module,
    path: str | Path,
    *,
    what: str,
    allow_unexpected: bool = False,
    optional: tuple[str, ...] = (),
    convert: Callable[[dict[str, torch.Tensor], nn.Module], dict[str, torch.Tensor]] | None = None,
) -> None:
    """Load a local state-dict file into ``module``, refusing anything that does not fit, by name.

    The file is read with ``torch.load(..., weights_only=True)`` on the CPU; nothing touches the network.
    A ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper and a ``module.`` prefix (DDP) are unwrapped.

    Args:
        module: the network to fill.
        path: a local file holding a state dict (``torch.save(model.state_dict(), path)``).
        what: the network's name, for messages (``"backbone resnet18"``).
        allow_unexpected: ignore keys the module does not have (a classifier head in an ImageNet file).
        optional: prefixes of the module's keys that the file may lack (layers added on top of a
            published network); they keep their initial values.
        convert: maps the file's state dict to the module's naming before the checks.

    Raises:
        DataLayoutError: the file does not exist.
        FileFormatError: it is not a state dict, or parameters are missing (or unexpected).
        ShapeError: a parameter's shape differs, naming the parameter and both shapes.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataLayoutError(
            f"weights file {p} for {what} does not exist; put a state dict there "
            "(torch.save(model.state_dict(), path)) or pass pretrained=None for random weights"
        )
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors vary by torch version; one clear message
        raise FileFormatError(f"cannot read {p} as a torch state dict for {what}: {e}") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise FileFormatError(f"{p} does not hold a state dict (name -> tensor) for {what}")
    state = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}
    if convert is not None:
        state = convert(state, module)
    own = module.state_dict()
    for k, v in own.items():
        if k in state and tuple(state[k].shape) != tuple(v.shape):
            raise ShapeError(
                f"{what} weights {p}: parameter {k} has shape {tuple(state[k].shape)} in the file but "
                f"{tuple(v.shape)} in the model; build the model with the options the weights were made with"
            )
    # BatchNorm counters are absent from some old files; they do not change outputs.
    missing = [
        k
        for k in own
        if k not in state and not k.endswith("num_batches_tracked") and not k.startswith(tuple(optional))
    ]
    if missing:
        raise FileFormatError(
            f"{what} weights {p} lack {len(missing)} of the model's parameters (e.g. {', '.join(missing[:3])}); "
            "is it a checkpoint of another architecture or size?"
        )
    unexpected = [k for k in state if k not in own]
    if unexpected and not allow_unexpected:
        raise FileFormatError(
            f"{what} weights {p} hold {len(unexpected)} parameters the model lacks "
            f"(e.g. {', '.join(unexpected[:3])}); is it a checkpoint of another architecture or size?"
        )
    module.load_state_dict({k: state.get(k, v) for k, v in own.items()}, strict=True)
