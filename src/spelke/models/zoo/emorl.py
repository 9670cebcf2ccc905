"""EfficientMORL (Emami, He, Ranka & Rangarajan, ICML 2021, "Efficient Iterative Amortized Inference for
Learning Symmetric and Disentangled Multi-Object Representations"), written here in plain PyTorch.

Two-stage inference (paper Sec. 3):

1. **Bottom-up hierarchical inference** (the HVAE of L = 3 stochastic layers with *variational
   attention*). A CNN encodes the image (in [-1, 1]) into per-pixel features with a position embedding
   (distances to the four borders); K slot posteriors start from a learned ``λ^0 = (μ^0, s^0)`` shared by
   all slots. Each layer l draws ``z^{l-1} ~ q(z^{l-1})``, attends to the pixels with the slots as queries
   (softmax over the K slots, so slots compete for pixels, then a weighted mean over pixels) and updates
   the posterior parameters with two GRUs, one for the means and one for the (softplus) variances, each
   followed by a residual MLP: ``q(z^l | z^{l-1}, x) = N(μ^l, softplus(s^l))``.
2. **Refinement** (I steps, few, by a curriculum): a small network reads the posterior parameters
   ``λ = (μ, s)`` of the last layer and the layer-normalised gradients ``∇_μ L, ∇_s L`` of the previous
   step's loss, and a GRU outputs ``Δλ`` (iterative amortised inference, as IODINE but lighter). The
   curriculum lowers I during training (3, then 1 after 100k steps); at test time 0 or 1 steps suffice.

Generation: each slot's latent goes through a spatial-broadcast decoder (the IODINE-style decoder:
z tiled on a (H+10, W+10) grid plus a projected position embedding, four unpadded 3x3 convolutions with
ELU, then a 3x3 convolution to RGB + mask logit); masks are the softmax of the logits over slots and the
likelihood is Gaussian with σ = 0.1. The prior is the *reversed* hierarchy: ``p(z^L) = N(0, I)`` and
``p(z^l | z^{l+1})`` from a small MLP; the refinement steps use ``p(z^1 | z^2)`` as their prior
("reversed prior++"). Training uses GECO (:mod:`spelke.models.zoo.geco`) with the per-dataset
reconstruction targets of thesis App. B.3.3, on the loss of every step weighted towards the early steps.

Examples:
    >>> m = EMORL(EMORLConfig(num_slots=3, image_size=(16, 16), z_dim=8, encoder_width=8, decoder_width=8))
    >>> out = m(torch.rand(2, 3, 16, 16))
    >>> tuple(out.logits.shape), tuple(out.slot_recons.shape), tuple(out.slots.shape)
    ((2, 3, 16, 16), (2, 3, 3, 16, 16), (2, 3, 8))
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from spelke.engine.types import ModelOutput
from spelke.errors import ConfigError
from spelke.models.zoo import register_object_centric
from spelke.models.zoo.geco import GECO, GECOConfig, geco_preset
from spelke.models.zoo.genesis_v2 import build_config
from spelke.models.zoo.monet import gaussian_mixture_nll
from spelke.models.zoo.slot_attention import check_image_batch

__all__ = ["EMORL", "EMORLConfig", "emorl"]


@dataclass(frozen=True)
class EMORLConfig:
    """EfficientMORL's settings; defaults are the ClevrTex benchmark's (thesis App. B.3.3, CLEVRTEX).

    Attributes:
        num_slots: K (thesis App. B.3.3: "increase the number of components to 11").
        image_size: (H, W) of the input (thesis: "change the input resolution to 128x128").
        z_dim: latent size per slot (eMORL paper / ClevrTex code: 64).
        stochastic_layers: L, layers of the bottom-up hierarchy (eMORL: 3).
        refinement_curriculum: ``(from_step, I)`` pairs: I refinement steps from that training step on
            (ClevrTex code: 3, then 1 after 100k and 200k steps).
        eval_refinement_iters: refinement steps outside training (the benchmark evaluated with the
            training value at the end of the curriculum, 1; the paper reports 0 works nearly as well).
        encoder_width: channels of the 4-layer 5x5 CNN encoder (eMORL: 64).
        decoder_width: channels of the broadcast decoder (eMORL: 64).
        hidden_width: hidden units of the prior MLP and of the refinement network (eMORL: 128).
        pixel_std: σ of the Gaussian likelihood (ClevrTex code: 0.1).
        likelihood: ``"gaussian"``: N(x; Σ_k m_k μ_k, σ²) (the ClevrTex run); ``"mixture"``: per value
            Σ_k m_k N(x; μ_k, σ²) (eMORL's GMM option). Both without the ½ log 2π constant, as eMORL's
            code, so that its GECO targets carry over.
        dataset: the dataset whose GECO target is used (``clevr``, ``clevrtex``/``full``, variants).
        geco: GECO settings; None = the preset of ``dataset`` (thesis App. B.3.3 targets; eMORL code:
            α 0.99, λ = softplus(β), β from 0.55 by steps 1e-6 on the summed NLL, 1000 ELBO steps first).
        learning_rate: Adam learning rate (ClevrTex code: 4e-4).
        lr_warmup_steps: linear warm-up of the learning rate (eMORL code: 10k).
        lr_decay_rate: the rate decays by this factor every ``lr_decay_steps`` (eMORL code: 0.5, 100k).
        lr_decay_steps: see above.
        batch_size: images per batch (ClevrTex code: 32).
        train_steps: training iterations (ClevrTex code: 500k).
        grad_clip: gradient-norm clip (eMORL: 5.0).
    """

    num_slots: int = 11
    image_size: tuple[int, int] = (128, 128)
    z_dim: int = 64
    stochastic_layers: int = 3
    refinement_curriculum: tuple[tuple[int, int], ...] = ((0, 3), (100_000, 1), (200_000, 1))
    eval_refinement_iters: int = 1
    encoder_width: int = 64
    decoder_width: int = 64
    hidden_width: int = 128
    pixel_std: float = 0.1
    likelihood: Literal["gaussian", "mixture"] = "gaussian"
    dataset: str = "clevrtex"
    geco: GECOConfig | None = None
    learning_rate: float = 4e-4
    lr_warmup_steps: int = 10_000
    lr_decay_rate: float = 0.5
    lr_decay_steps: int = 100_000
    batch_size: int = 32
    train_steps: int = 500_000
    grad_clip: float | None = 5.0

    def __post_init__(self) -> None:
        if self.num_slots < 1 or self.stochastic_layers < 1:
            raise ConfigError(
                f"eMORL needs num_slots >= 1 and stochastic_layers >= 1, got {self.num_slots}, {self.stochastic_layers}"
            )
        if not self.refinement_curriculum or any(i < 0 for _, i in self.refinement_curriculum):
            raise ConfigError(
                f"refinement_curriculum must be non-empty (step, iters >= 0) pairs, got {self.refinement_curriculum}"
            )
        object.__setattr__(
            self,
            "refinement_curriculum",
            tuple(sorted((int(s), int(i)) for s, i in self.refinement_curriculum)),
        )
        if self.likelihood not in ("gaussian", "mixture"):
            raise ConfigError(f"likelihood must be 'gaussian' or 'mixture', got {self.likelihood!r}")
        if self.pixel_std <= 0:
            raise ConfigError(f"pixel_std must be > 0, got {self.pixel_std}")
        if self.geco is None:
            object.__setattr__(self, "geco", geco_preset("emorl", self.dataset))

    def refinement_iters_at(self, step: int) -> int:
        """I at training ``step`` under the curriculum (the last entry whose step has been reached)."""
        iters = self.refinement_curriculum[0][1]
        for s, i in self.refinement_curriculum:
            if step >= s:
                iters = i
        return iters

    def loss_weights(self, iters: int) -> list[float]:
        """Weights of the losses of steps 0..I, larger for earlier steps (eMORL code: (I+3-i)/(I+1))."""
        return [(iters + 3 - i) / (iters + 1) for i in range(iters + 1)]


def border_embedding(h: int, w: int, device: torch.device | None = None) -> torch.Tensor:
    """``(H, W, 4)``: distances to the right, left, top and bottom borders, each in [0, 1] (eMORL)."""
    xs = torch.linspace(0, 1, w, device=device)[None, :].expand(h, w)
    ys = torch.linspace(0, 1, h, device=device)[:, None].expand(h, w)
    return torch.stack([1 - xs, xs, ys, 1 - ys], dim=-1)


def softplus_to_std(s: torch.Tensor) -> torch.Tensor:
    """eMORL's posterior std from its softplus parameter: ``sqrt(softplus(s) + 1e-5)``."""
    return torch.sqrt(F.softplus(s.clamp(max=80.0)) + 1e-5)


def normal_kl(
    mu_q: torch.Tensor, std_q: torch.Tensor, mu_p: torch.Tensor, std_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(μ_q, σ_q²) || N(μ_p, σ_p²)) per dimension, in closed form."""
    return torch.log(std_p / std_q) + (std_q.pow(2) + (mu_q - mu_p).pow(2)) / (2 * std_p.pow(2)) - 0.5


class _Encoder(nn.Module):
    """Four 5x5 convolutions (ReLU), plus the projected border embedding, then LayerNorm + MLP."""

    def __init__(self, width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for _ in range(4):
            layers += [nn.Conv2d(cin, width, 5, padding=2), nn.ReLU()]
            cin = width
        self.cnn = nn.Sequential(*layers)
        self.pos = nn.Linear(4, width)
        self.mlp = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        f = self.cnn(x).permute(0, 2, 3, 1) + self.pos(border_embedding(h, w, x.device))
        return self.mlp(f.reshape(b, h * w, -1))


class _BroadcastDecoder(nn.Module):
    """The IODINE-style broadcast decoder: (H+10, W+10) grid + position, 4 unpadded 3x3 convs (ELU), 3x3."""

    def __init__(self, z_dim: int, width: int, size: tuple[int, int]) -> None:
        super().__init__()
        self.grid = (size[0] + 10, size[1] + 10)
        self.pos = nn.Linear(4, z_dim)
        layers: list[nn.Module] = []
        cin = z_dim
        for _ in range(4):
            layers += [nn.Conv2d(cin, width, 3), nn.ELU()]
            cin = width
        layers.append(nn.Conv2d(cin, 4, 3))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pos = self.pos(border_embedding(*self.grid, z.device)).permute(2, 0, 1)  # (D, H+10, W+10)
        out = self.net(z[:, :, None, None] + pos[None])
        return torch.sigmoid(out[:, :3]), out[:, 3]


class EMORL(nn.Module):
    """EfficientMORL: bottom-up hierarchical variational attention, then a few refinement steps."""

    paper_config: ClassVar[EMORLConfig] = EMORLConfig()
    train_step: torch.Tensor

    def __init__(self, config: EMORLConfig | None = None) -> None:
        super().__init__()
        cfg = config or EMORLConfig()
        self.config = cfg
        d, e, hw = cfg.z_dim, cfg.encoder_width, cfg.hidden_width
        self.encoder = _Encoder(e)
        self.to_q = nn.Linear(d, d, bias=False)
        self.to_k = nn.Linear(e, d, bias=False)
        self.to_v = nn.Linear(e, d, bias=False)
        self.norm_slots = nn.LayerNorm(d)
        self.gru_mu = nn.GRUCell(d, d)  # eMORL's "DualGRU": one GRU for the means,
        self.gru_sp = nn.GRUCell(d, d)  # one for the softplus variances, same input
        self.mlp_mu = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        self.mlp_sp = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        self.init_posterior = nn.Parameter(torch.cat([torch.zeros(d), torch.ones(d)]))  # λ^0 = (0, 1)
        self.prior_net = nn.Sequential(nn.Linear(d, hw), nn.ELU(), nn.Linear(hw, 2 * d))  # p(z^l | z^{l+1})
        self.decoder = _BroadcastDecoder(d, cfg.decoder_width, cfg.image_size)
        # refinement network: [λ, LN(∇μ), LN(∇s)] -> MLP -> GRU -> Δλ
        self.refine_in = nn.Sequential(nn.Linear(4 * d, hw), nn.ELU(), nn.Linear(hw, d))
        self.refine_gru = nn.GRUCell(d, d)
        self.refine_out = nn.Linear(d, 2 * d)
        assert cfg.geco is not None
        self.geco = GECO(cfg.geco)
        self.register_buffer("train_step", torch.tensor(0, dtype=torch.int64))

    # -- parts ---------------------------------------------------------------------------------------

    @staticmethod
    def _sample(lam: torch.Tensor) -> torch.Tensor:
        mu, s = lam.chunk(2, dim=-1)
        return mu + softplus_to_std(s) * torch.randn_like(mu)

    def _prior(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, s = self.prior_net(z).chunk(2, dim=-1)
        return mu, softplus_to_std(s)

    def _kl(self, lam: torch.Tensor, prior: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """Per-image KL of the slot posteriors ``(B, K, 2D)`` to ``prior`` (None: N(0, I)), ``(B,)``."""
        mu, s = lam.chunk(2, dim=-1)
        std = softplus_to_std(s)
        if prior is None:
            p_mu, p_std = torch.zeros_like(mu), torch.ones_like(std)
        else:
            p_mu, p_std = prior
        return normal_kl(mu, std, p_mu, p_std).sum(dim=(1, 2))

    def _decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, k, d = z.shape
        rgb, logits = self.decoder(z.reshape(b * k, d))
        h, w = self.config.image_size
        return rgb.view(b, k, 3, h, w), F.log_softmax(logits.view(b, k, h, w), dim=1)

    def _nll(self, image: torch.Tensor, rgb: torch.Tensor, log_m: torch.Tensor) -> torch.Tensor:
        std = self.config.pixel_std
        if self.config.likelihood == "mixture":
            return gaussian_mixture_nll(image, rgb, log_m, std, per_channel=True, constant=False)
        mean = (log_m.exp()[:, :, None] * rgb).sum(1)
        return (math.log(std) + 0.5 * ((image - mean) / std).pow(2)).sum(dim=(1, 2, 3))

    def bottom_up(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The L posteriors' parameters ``λ^l = (μ^l, s^l)``, each ``(B, K, 2D)`` (variational attention)."""
        b = image.shape[0]
        k, d = self.config.num_slots, self.config.z_dim
        feats = self.encoder(image * 2 - 1)
        keys, values = self.to_k(feats), self.to_v(feats)
        lam = self.init_posterior.expand(b, k, 2 * d)
        mu, sp = (t.reshape(b * k, d) for t in lam.chunk(2, dim=-1))
        z = self._sample(lam)
        posteriors = []
        for _ in range(self.config.stochastic_layers):
            q = self.to_q(self.norm_slots(z)) * d**-0.5
            attn = torch.softmax(torch.einsum("bkd,bnd->bkn", q, keys), dim=1) + 1e-8  # slots compete
            attn = attn / attn.sum(dim=-1, keepdim=True)
            upd = torch.einsum("bkn,bnd->bkd", attn, values).reshape(b * k, d)
            mu = self.gru_mu(upd, mu)
            sp = self.gru_sp(upd, sp)
            mu = mu + self.mlp_mu(mu)
            sp = sp + self.mlp_sp(sp)
            lam = torch.cat([mu, sp], dim=-1).view(b, k, 2 * d)
            posteriors.append(lam)
            z = self._sample(lam)
        return posteriors

    def refinement_iters(self) -> int:
        """I for the next forward: the curriculum at the training step in training, else the eval value."""
        if self.training:
            return self.config.refinement_iters_at(int(self.train_step))
        return self.config.eval_refinement_iters

    # -- forward / objective -------------------------------------------------------------------------

    def forward(self, image: torch.Tensor, refinement_iters: int | None = None) -> ModelOutput:
        """Decompose ``(B, 3, H, W)`` images in [0, 1]; ``refinement_iters`` overrides I.

        Refinement needs gradients of the loss with respect to the posterior, so it runs with autograd
        enabled even under ``torch.no_grad()`` (not under ``torch.inference_mode()``); outputs are then
        detached.
        """
        check_image_batch(image, self.config.image_size, "EfficientMORL")
        iters = self.refinement_iters() if refinement_iters is None else int(refinement_iters)
        grad_was_on = torch.is_grad_enabled()
        with torch.enable_grad() if iters > 0 else nullcontext():
            out = self._forward(image, iters)
        if not grad_was_on:
            out = out.detach()
        return out

    def _forward(self, image: torch.Tensor, iters: int) -> ModelOutput:
        posteriors = self.bottom_up(image)
        lam = posteriors[-1]
        if iters > 0 and not lam.requires_grad:  # frozen parameters: refine from a leaf
            lam = lam.detach().requires_grad_(True)
            posteriors[-1] = lam
        # KL of the bottom-up stage under the reversed prior: p(z^L) = N(0, I), p(z^l | z^{l+1})
        kl = image.new_zeros(image.shape[0])
        prior_1: tuple[torch.Tensor, torch.Tensor] | None = None
        for layer in reversed(range(len(posteriors))):
            prior = None if layer == len(posteriors) - 1 else self._prior(self._sample(posteriors[layer + 1]))
            kl = kl + self._kl(posteriors[layer], prior)
            if layer == 0:
                prior_1 = prior  # p(z^1 | z^2), the refinement steps' prior ("reversed prior++")
        z = self._sample(lam)
        rgb, log_m = self._decode(z)
        nll = self._nll(image, rgb, log_m)
        nlls, kls = [nll], [kl]
        if iters > 0:
            b, k, d2 = lam.shape
            h = lam.new_zeros(b * k, d2 // 2)
            lagrange = self.geco.multiplier.to(lam.device) if int(self.geco.num_updates) > 0 else 1.0
            for _ in range(iters):
                step_loss = (kls[-1] + lagrange * nlls[-1]).mean()  # the previous step's (GECO) loss
                (grad,) = torch.autograd.grad(step_loss, lam, retain_graph=True)
                g_mu, g_sp = grad.detach().reshape(b * k, d2).chunk(2, dim=-1)
                g_mu = F.layer_norm(g_mu, g_mu.shape[-1:])
                g_sp = F.layer_norm(g_sp, g_sp.shape[-1:])
                h = self.refine_gru(self.refine_in(torch.cat([lam.reshape(b * k, d2), g_mu, g_sp], -1)), h)
                lam = lam + self.refine_out(h).view(b, k, d2)
                z = self._sample(lam)
                rgb, log_m = self._decode(z)
                nlls.append(self._nll(image, rgb, log_m))
                kls.append(self._kl(lam, prior_1))
        recon = (log_m.exp()[:, :, None] * rgb).sum(1)
        extras = {
            "nll_steps": torch.stack(nlls),  # (I+1, B)
            "kl_steps": torch.stack(kls),  # (I+1, B)
            "posterior": lam,
        }
        return ModelOutput(logits=log_m, slot_recons=rgb, recon=recon, slots=z, extras=extras)

    def objective(self, image: torch.Tensor, output: ModelOutput, step: int) -> dict[str, torch.Tensor]:
        """Σ_i w_i (KL_i + λ (NLL_i - target)) over the steps, λ from GECO (ELBO during the warm-up)."""
        nll, kl = output.extras["nll_steps"], output.extras["kl_steps"]
        iters = nll.shape[0] - 1
        n = image.shape[1] * image.shape[2] * image.shape[3]
        lam = self.geco.multiplier
        constraint = self.geco.constraint(nll[-1], n)
        self.geco.update(constraint, step)  # once per step, with the final step's NLL (eMORL code)
        loss = sum(
            w * self.geco.penalised(nll[i], kl[i], n, step, multiplier=lam)
            for i, w in enumerate(self.config.loss_weights(iters))
        )
        if self.training:
            self.train_step.fill_(step + 1)  # the refinement curriculum of the next forward
        assert output.recon is not None
        return {
            "loss": loss,
            "recon_nll": nll[-1].mean().detach(),
            "kl": kl[-1].mean().detach(),
            "mse": (output.recon - image).pow(2).mean().detach(),
            "constraint": constraint.detach(),
            "constraint_ema": self.geco.constraint_ema.detach().float(),
            "geco_lambda": lam,
            "refinement_iters": torch.tensor(float(iters)),
        }


@register_object_centric(
    "emorl", aliases=("efficientmorl", "efficient-morl"), summary="EfficientMORL (Emami et al. 2021)"
)
def emorl(num_slots: int = 11, image_size: tuple[int, int] = (128, 128), **options: Any) -> EMORL:
    """EfficientMORL with the ClevrTex benchmark's settings (thesis App. B.3.3); options override fields.

    Examples:
        >>> m = emorl(num_slots=4, image_size=(32, 32), z_dim=16, dataset="vbg")
        >>> round(m.config.geco.target * 3 * 128 * 128)
        -61000
    """
    return EMORL(build_config(EMORLConfig, EMORL.paper_config, num_slots, image_size, options))
