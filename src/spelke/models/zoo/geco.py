"""GECO: the reconstruction-constrained VAE objective of Rezende & Viola (2018, "Taming VAEs").

GECO replaces the ELBO's fixed trade-off by a constraint on the reconstruction error. With the
constraint ``C = E[err] - target`` (err: a reconstruction error, here a negative log-likelihood) it
minimises the Lagrangian

    L(θ, λ) = KL(q(z|x) || p(z)) + λ · C                                   (GECO eq. (3), Alg. 1)

and updates the Lagrange multiplier from a moving average of the constraint (Alg. 1):

    C_ma ← α · C_ma + (1 - α) · C_t        (C_ma = C_1 at the first update)
    λ    ← λ · exp(speed · C_ma)           (clamped; λ grows while the constraint is violated)

In the loss the constraint's value is replaced by its moving average while its gradient is the
batch's own (Alg. 1: ``C_t ← C_t + StopGradient(C_ma - C_t)``); that changes the loss value, not its
gradient.

**Units.** ``target`` is given **per pixel and channel** (per value of the ``3 x H x W`` image), so one
number carries across image sizes. The constraint is applied to the per-image *sum* of the error,
``C = Σ_pixels,channels err - target · 3HW``, so that λ keeps the papers' meaning (a weight on the summed
reconstruction term next to the summed KL). The multiplier update uses the per-value constraint, so
``speed`` too is resolution-free.

**The models' forms** (both reduce to the update above; docs/zoo.md "GECO"):

* GENESIS-v2 (``form="beta"``, ``parametrisation="log"``): the public code minimises
  ``err + β · KL`` with ``β = 1/λ`` and ``β ← β · exp(η' · (goal - err_ma))``, the goal given per pixel
  and channel and the step ``η' = g_lr · 64² / (H W)`` on the summed error; per value this is
  ``speed = 3 · 64² · g_lr = 0.12288`` (g_lr = 1e-5), with the step multiplied by ``speedup = 10``
  while the constraint is satisfied. The gradient is the Lagrangian's divided by λ.
* EfficientMORL (``form="lagrangian"``, ``parametrisation="softplus"``): the public code minimises
  ``KL + softplus(β) · (NLL - target)`` with ``β ← max(0.55, β + η · C_ma)`` on the summed NLL,
  η = 1e-6; per value at 128 x 128 this is ``speed = 1e-6 · 3 · 128² = 0.049152``, and λ starts at and
  never falls below ``softplus(0.55) ≈ 1.0055``. The first 1000 steps optimise the plain ELBO
  (``warmup_steps``).

The multiplier and the moving average are registered buffers, so checkpoints carry them. They change
only in training mode (``module.train()``), at most once per call of :meth:`GECO.update`.

Examples:
    >>> geco = GECO(GECOConfig(target=0.5, speed=0.1))
    >>> err = torch.tensor([7.2, 8.4])      # per-image summed errors of 2x2 RGB images (12 values)
    >>> out = geco(err, torch.tensor([1.0, 3.0]), num_values=12, step=0)
    >>> round(float(out["constraint"]), 4), round(float(geco.multiplier), 5)
    (0.15, 1.01511)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from spelke.data.clevrtex_layout import VARIANT_KEYS
from spelke.errors import ConfigError

__all__ = [
    "EMORL_GECO_TOTALS",
    "GECO",
    "GECO_PRESETS",
    "GENESIS_V2_GECO_GOALS",
    "GECOConfig",
    "geco_preset",
]

#: Values per image at the thesis' resolution (3 x 128 x 128), to turn eMORL's summed targets per value.
_VALUES_128 = 3 * 128 * 128


@dataclass(frozen=True)
class GECOConfig:
    """GECO's settings; defaults are Rezende & Viola (2018) Alg. 1 where the paper gives them.

    Attributes:
        target: the reconstruction error allowed, **per pixel and channel** (GECO's κ; eMORL's
            "reconstruction target", GENESIS' "goal"), in the units of the model's error (its NLL).
        alpha: moving-average decay α of the constraint (GECO Alg. 1; 0.99 in GENESIS-v2 and eMORL).
        speed: step of the multiplier update per unit of the per-value constraint (GECO Alg. 1
            "λ ← λ exp(∝ C_ma)" leaves it open; default GENESIS-v2's 3 · 64² · 1e-5 = 0.12288).
        speedup: factor on ``speed`` while the constraint is satisfied (C_ma < 0): GENESIS-v2 uses 10,
            so the multiplier relaxes faster than it tightens; 1 = GECO's symmetric update.
        parametrisation: ``"log"``: λ = exp(r), the update ``r ← r + speed · C_ma`` is GECO's
            multiplicative one; ``"softplus"``: λ = softplus(r), the additive update of eMORL's code.
        form: ``"lagrangian"``: loss = KL + λ C (GECO, eMORL); ``"beta"``: loss = err + KL / λ
            (GENESIS-v2's ``err + β KL``, the Lagrangian divided by λ).
        init: λ at the start (GECO, GENESIS: 1; eMORL: softplus(0.55)).
        minimum: lower clamp of λ (GENESIS: 1e-10 via β ≤ 1e10; eMORL: softplus(0.55)).
        maximum: upper clamp of λ (GENESIS: 1e10 via β ≥ 1e-10; eMORL: none).
        warmup_steps: steps before the first update, during which the loss is the ELBO err + KL
            (eMORL: 1000; GECO, GENESIS: 0).
    """

    target: float
    alpha: float = 0.99
    speed: float = 3 * 64**2 * 1e-5
    speedup: float = 1.0
    parametrisation: Literal["log", "softplus"] = "log"
    form: Literal["lagrangian", "beta"] = "lagrangian"
    init: float = 1.0
    minimum: float = 1e-10
    maximum: float = 1e10
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha < 1.0:
            raise ConfigError(f"GECO alpha must be in [0, 1), got {self.alpha}")
        if self.speed < 0 or self.speedup <= 0:
            raise ConfigError(f"GECO speed must be >= 0 and speedup > 0, got {self.speed}, {self.speedup}")
        if self.parametrisation not in ("log", "softplus"):
            raise ConfigError(
                f"GECO parametrisation must be 'log' or 'softplus', got {self.parametrisation!r}"
            )
        if self.form not in ("lagrangian", "beta"):
            raise ConfigError(f"GECO form must be 'lagrangian' or 'beta', got {self.form!r}")
        if not 0 < self.minimum <= self.init <= self.maximum:
            raise ConfigError(
                f"GECO needs 0 < minimum <= init <= maximum, got {self.minimum}, {self.init}, {self.maximum}"
            )
        if self.warmup_steps < 0:
            raise ConfigError(f"GECO warmup_steps must be >= 0, got {self.warmup_steps}")


def _inv_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


_SOFTPLUS_055 = math.log1p(math.exp(0.55))  # eMORL's β floor 0.55 as a multiplier (≈ 1.0055)

#: GENESIS-v2's GECO goal per pixel and channel of its NLL (thesis App. B.3.3: "GECO goal of 0.5655"
#: on CLEVR, "lowered the GECO goal to 0.5" on CLEVRTEX). The variants are not stated: plain-background
#: PLAINBG takes the CLEVR goal, the textured-background variants the CLEVRTEX goal (docs/fidelity.md).
GENESIS_V2_GECO_GOALS = {
    "clevr": 0.5655,
    "full": 0.5,
    "pbg": 0.5655,
    "vbg": 0.5,
    "grassbg": 0.5,
    "camo": 0.5,
    "outd": 0.5,
}

#: eMORL's GECO reconstruction targets on the summed NLL of a 128 x 128 image (thesis App. B.3.3:
#: "-108 000 for CLEVR and PLAINBG", "-61 000 for VARBG and GRASSBG and -73 000 for CLEVRTEX, OOD, and
#: CAMO"); the presets divide them by 3 · 128².
EMORL_GECO_TOTALS = {
    "clevr": -108_000.0,
    "pbg": -108_000.0,
    "vbg": -61_000.0,
    "grassbg": -61_000.0,
    "full": -73_000.0,
    "camo": -73_000.0,
    "outd": -73_000.0,
}

_GENESIS_BASE = GECOConfig(
    target=0.5655,
    alpha=0.99,
    speed=3 * 64**2 * 1e-5,
    speedup=10.0,
    parametrisation="log",
    form="beta",
    init=1.0,
    minimum=1e-10,
    maximum=1e10,
    warmup_steps=0,
)
_EMORL_BASE = GECOConfig(
    target=-108_000.0 / _VALUES_128,
    alpha=0.99,
    speed=1e-6 * _VALUES_128,
    speedup=1.0,
    parametrisation="softplus",
    form="lagrangian",
    init=_SOFTPLUS_055,
    minimum=_SOFTPLUS_055,
    maximum=1e10,
    warmup_steps=1000,
)

#: Every preset by ``"<model>/<dataset>"``; datasets are ClevrTex variant keys (``full`` = CLEVRTEX,
#: ``pbg``, ``vbg``, ``grassbg``, ``camo``, ``outd``) and ``clevr`` (CLEVR).
GECO_PRESETS: dict[str, GECOConfig] = {
    **{f"genesis-v2/{d}": replace(_GENESIS_BASE, target=g) for d, g in GENESIS_V2_GECO_GOALS.items()},
    **{f"emorl/{d}": replace(_EMORL_BASE, target=t / _VALUES_128) for d, t in EMORL_GECO_TOTALS.items()},
}

#: Dataset names -> ClevrTex variant key (the data module's aliases; ``clevrtex`` = the full set).
_DATASET_ALIASES = {"clevrtex": "full", **VARIANT_KEYS}


def geco_preset(model: str, dataset: str) -> GECOConfig:
    """The GECO settings of ``model`` (``"genesis-v2"`` or ``"emorl"``) on ``dataset`` (thesis App. B.3.3).

    Examples:
        >>> round(geco_preset("emorl", "clevrtex").target, 4)
        -1.4852
        >>> geco_preset("genesis-v2", "clevr").target
        0.5655
    """
    key = _DATASET_ALIASES.get(str(dataset).strip().lower())
    name = f"{model}/{key}"
    if key is None or name not in GECO_PRESETS:
        known = sorted({k.split("/")[1] for k in GECO_PRESETS} | set(_DATASET_ALIASES))
        raise ConfigError(
            f"no GECO preset for model {model!r} on dataset {dataset!r}; datasets: {', '.join(known)} "
            "(or give the target per pixel and channel with geco_target=...)"
        )
    return GECO_PRESETS[name]


class GECO(nn.Module):
    """GECO's state (λ and the constraint's moving average, as buffers) and its loss.

    Call it once per training step with the per-image summed reconstruction error and KL; models that
    sum several Lagrangians per step (eMORL's refinement steps) use :meth:`penalised` per term and
    :meth:`update` once.
    """

    raw: torch.Tensor
    constraint_ema: torch.Tensor
    num_updates: torch.Tensor

    def __init__(self, config: GECOConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("raw", torch.tensor(self._to_raw(config.init), dtype=torch.float32))
        self.register_buffer("constraint_ema", torch.tensor(0.0, dtype=torch.float32))
        self.register_buffer("num_updates", torch.tensor(0, dtype=torch.int64))

    # -- the multiplier ------------------------------------------------------------------------------

    def _to_raw(self, lam: float) -> float:
        if self.config.parametrisation == "log":
            return math.log(lam)
        return _inv_softplus(lam) if lam < 30 else lam

    def _to_lambda(self, raw: torch.Tensor) -> torch.Tensor:
        return raw.exp() if self.config.parametrisation == "log" else F.softplus(raw)

    @property
    def multiplier(self) -> torch.Tensor:
        """The current Lagrange multiplier λ (a float32 scalar, no gradient)."""
        return self._to_lambda(self.raw).detach().float()

    def active(self, step: int) -> bool:
        """Whether ``step`` is past the warm-up (the constrained loss applies)."""
        return step >= self.config.warmup_steps

    # -- the constraint ------------------------------------------------------------------------------

    def constraint(self, err: torch.Tensor, num_values: int) -> torch.Tensor:
        """The batch's constraint per pixel and channel, ``mean_b(err_b) / num_values - target``."""
        return err.mean() / num_values - self.config.target

    @torch.no_grad()
    def update(self, constraint: torch.Tensor, step: int) -> None:
        """GECO Alg. 1: the moving average, then λ (training mode and past the warm-up only)."""
        if not self.training or not self.active(step):
            return
        # tensor ops only (no .item()): a GPU step does not wait for the host here
        c = constraint.detach().to(self.constraint_ema.dtype)
        a = self.config.alpha
        first = self.num_updates == 0  # the first update starts the average at the constraint itself
        self.constraint_ema.copy_(torch.where(first, c, a * self.constraint_ema + (1.0 - a) * c))
        speed = self.config.speed
        speed = torch.where(self.constraint_ema < 0, speed * self.config.speedup, speed)
        lo, hi = self._to_raw(self.config.minimum), self._to_raw(self.config.maximum)
        self.raw.add_(speed * self.constraint_ema).clamp_(lo, hi)
        self.num_updates.add_(1)

    # -- the loss ------------------------------------------------------------------------------------

    def penalised(
        self,
        err: torch.Tensor,
        kl: torch.Tensor,
        num_values: int,
        step: int,
        multiplier: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The loss of one (err, KL) pair with a fixed λ (default: the current one); no state change.

        Args:
            err: ``(B,)`` per-image summed reconstruction error (NLL).
            kl: ``(B,)`` per-image KL.
            num_values: values per image (``3 * H * W``).
            step: the training step (the warm-up uses the ELBO ``err + KL``).
            multiplier: λ to use (a model passes the value from before this step's update).
        """
        if not self.active(step):
            return err.mean() + kl.mean()  # eMORL's warm-up: the plain ELBO
        lam = self.multiplier if multiplier is None else multiplier
        lam = lam.to(err.device, err.dtype)
        if self.config.form == "beta":
            return err.mean() + kl.mean() / lam  # GENESIS-v2: err + β KL, β = 1/λ
        c = self.constraint(err, num_values)
        if self.training and int(self.num_updates) > 0:
            # GECO Alg. 1: the value of the moving average, the gradient of this batch
            c = c + (self.constraint_ema.to(c.dtype) - c).detach()
        return kl.mean() + lam * num_values * c  # GECO eq. (3): KL + λ C, C on the summed error

    def forward(
        self, err: torch.Tensor, kl: torch.Tensor, num_values: int, step: int
    ) -> dict[str, torch.Tensor]:
        """Loss of this step with the λ from before it, then the update (training mode only).

        Returns ``loss``, ``constraint`` (this batch, per value), ``constraint_ema`` and ``geco_lambda``
        (the λ the loss used), all scalars.
        """
        lam = self.multiplier
        c = self.constraint(err, num_values)
        self.update(c, step)
        loss = self.penalised(err, kl, num_values, step, multiplier=lam)
        return {
            "loss": loss,
            "constraint": c.detach(),
            "constraint_ema": self.constraint_ema.detach().float(),
            "geco_lambda": lam,
        }

    def extra_repr(self) -> str:
        c = self.config
        return f"target={c.target:.5g}/value, form={c.form}, parametrisation={c.parametrisation}"
