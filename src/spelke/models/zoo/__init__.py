"""The ClevrTex model zoo: object-centric models that decompose an image into K slots by reconstructing it.

Every model is an ``nn.Module`` registered by name in :data:`OBJECT_CENTRIC`, built with
``create_object_centric(name, num_slots=K, image_size=(H, W), **options)``, and follows one contract
(DESIGN.md, "Contracts at the seams"):

* ``forward(image)`` takes ``(B, 3, H, W)`` images in [0, 1] and returns a
  :class:`spelke.engine.types.ModelOutput` whose ``logits`` are ``(B, K, H, W)`` log mask probabilities
  (their softmax over K is the model's soft segmentation), ``slot_recons`` ``(B, K, 3, H, W)`` the
  per-slot appearance, ``recon`` ``(B, 3, H, W)`` the full reconstruction (mask-weighted sum of the slot
  reconstructions, or the model's own rendering), ``slots`` ``(B, K, D)`` where the model has slot
  vectors, and in ``extras`` whatever the model's objective needs (KL terms, per-step outputs, ...).
* ``objective(image, output, step)`` returns a dict of scalars: ``"loss"`` (what the optimiser
  minimises) and the named terms that make it up (``"recon_nll"``, ``"kl"``, ``"mse"``, ...), for logging.
  Stateful objectives (GECO's Lagrange multiplier) keep their state in buffers, so checkpoints carry it.
* ``paper_config`` (class attribute): the thesis App. B.3.3 hyper-parameters for that model.
"""

from __future__ import annotations

import importlib
from typing import Any

from spelke.registry import Registry

#: Every object-centric model: name -> factory ``(num_slots, image_size, **options) -> nn.Module``.
OBJECT_CENTRIC: Registry[Any] = Registry("object-centric model")

_MODULES = ("slot_attention", "monet", "iodine", "genesis_v2", "emorl")
_LOADED = False


def _ensure_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for m in _MODULES:
        importlib.import_module(f"spelke.models.zoo.{m}")


def register_object_centric(name: str, **kwargs: Any):
    """Decorator: register an object-centric model factory under ``name``."""
    return OBJECT_CENTRIC.register(name, **kwargs)


def create_object_centric(name: str, /, **options: Any) -> Any:
    """Create a registered object-centric model (``num_slots``, ``image_size`` and its own options)."""
    _ensure_builtin()
    return OBJECT_CENTRIC.create(name, **options)


def list_object_centric(pattern: str = "*") -> list[str]:
    _ensure_builtin()
    return OBJECT_CENTRIC.list(pattern)


__all__ = ["OBJECT_CENTRIC", "create_object_centric", "list_object_centric", "register_object_centric"]
