"""Typed data at the engine's seams: the training batch and the one model output type.

Every trained method (GWM, LRTL, PPMP, the ClevrTex zoo) reads a :class:`Batch` and its network returns a
:class:`ModelOutput`, so that training, inference, evaluation and visualisation treat them alike
(DESIGN.md, "Contracts at the seams").
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch

from spelke._checks import check_shape


@dataclass
class Batch:
    """One training or inference batch.

    Attributes:
        image: ``(B, 3, H, W)`` float in [0, 1], the frames the network sees.
        flow: ``(B, 2, Hf, Wf)`` optical flow in pixels of the flow grid (channel 0 = x), or None.
        gap: ``(B,)`` int, the frame gap of each flow (``+1``: to the next frame), or None.
        tracks: ``(B, T, N, 2)`` point tracks in pixels of the image grid ``(H, W)``, or None.
        track_vis: ``(B, T, N)`` bool visibility, or None.
        track_valid: ``(B, N)`` bool, which of the N (padded) tracks are real, or None.
        query: ``(B,)`` int, the index into T of the frame ``image`` shows (tracks are queried there).
        image_next: ``(B, 3, H, W)`` a second frame of the same clip (LRTL's temporal smoothing), or None.
        next_index: ``(B,)`` int, the index into T of ``image_next``.
        frame_index: ``(B,)`` int, the frame number within its clip.
        sequence: the clip name of each item.
        labels: ``(B, H, W)`` int64 ground truth, **for logging only** (never read by a loss).
    """

    image: torch.Tensor
    flow: torch.Tensor | None = None
    gap: torch.Tensor | None = None
    tracks: torch.Tensor | None = None
    track_vis: torch.Tensor | None = None
    track_valid: torch.Tensor | None = None
    query: torch.Tensor | None = None
    image_next: torch.Tensor | None = None
    next_index: torch.Tensor | None = None
    frame_index: torch.Tensor | None = None
    sequence: list[str] = field(default_factory=list)
    labels: torch.Tensor | None = None

    def __post_init__(self) -> None:
        b = check_shape(self.image, ["B", "3", "H", "W"], "batch image")["B"]
        if self.flow is not None:
            check_shape(self.flow, [str(b), "2", "Hf", "Wf"], "batch flow")
        if self.tracks is not None:
            check_shape(self.tracks, [str(b), "T", "N", "2"], "batch tracks")

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        """A copy with every tensor moved to ``device``."""
        moved: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            moved[f.name] = v.to(device) if isinstance(v, torch.Tensor) else v
        return replace(self, **moved)


@dataclass
class ModelOutput:
    """What every network returns.

    Attributes:
        logits: ``(B, K, H, W)`` mask logits; ``masks`` is their softmax over K.
        slot_recons: ``(B, K, 3, H, W)`` per-slot reconstructions (object-centric models), or None.
        recon: ``(B, 3, H, W)`` the full reconstruction, or None.
        slots: ``(B, K, D)`` slot vectors, or None.
        extras: anything else a model's own objective needs (e.g. KL terms), by name.
    """

    logits: torch.Tensor
    slot_recons: torch.Tensor | None = None
    recon: torch.Tensor | None = None
    slots: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_shape(self.logits, ["B", "K", "H", "W"], "model output logits")

    @property
    def masks(self) -> torch.Tensor:
        """Soft masks ``(B, K, H, W)``: the softmax of the logits over K (thesis eq. 3.1)."""
        return torch.softmax(self.logits, dim=1)

    def detach(self, n: int | None = None, *, cpu: bool = False, extras: bool = True) -> ModelOutput:
        """A copy cut from the autograd graph: the first ``n`` images (all with None), as float on the CPU
        with ``cpu``, ``extras`` kept (tensors with a batch dimension cut to ``n`` too) or dropped."""
        b = self.logits.shape[0]

        def cut(t: Any) -> Any:
            if not isinstance(t, torch.Tensor):
                return t
            t = t.detach()
            if n is not None and t.ndim > 0 and t.shape[0] == b:
                t = t[:n]
            return t.float().cpu() if cpu else t

        return ModelOutput(
            logits=cut(self.logits),
            slot_recons=cut(self.slot_recons),
            recon=cut(self.recon),
            slots=cut(self.slots),
            extras={k: cut(v) for k, v in self.extras.items()} if extras else {},
        )
