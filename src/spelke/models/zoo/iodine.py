"""IODINE (Greff et al. 2019, "Multi-Object Representation Learning with Iterative Variational Inference").

A spatial mixture of K components whose posteriors are inferred by iterative amortised refinement
(Sec. 2, Alg. 1):

- **Generative model** (Sec. 2.1): ``z_k ~ N(0, I)``; a spatial-broadcast decoder ``g_theta``
  (Watters et al. 2019: ``z_k`` tiled over the image with x/y coordinates, four 3x3 convolutions with 64
  channels and ELU, a 1x1 to 4 channels) gives each component's RGB means ``mu_k`` and mask logits
  ``m_hat_k``; ``m = softmax_k(m_hat)``; ``p(x | z) = prod_i sum_k m_ik N(x_i; mu_ik, sigma^2 I)`` with a
  fixed ``sigma = 0.1``.
- **Inference** (Sec. 2.2, Alg. 1): posteriors ``q_lambda(z_k) = N(mu_k, diag(sigma_k^2))`` with
  ``lambda = (mu, log sigma)``; ``lambda^(1)`` is learned; for ``t = 1..T``:
  ``z^(t) ~ q_lambda^(t)``, ``L^(t) = KL(q || p) - log p(x | z^(t))``, and a refinement network
  ``f_phi`` (four 3x3 stride-2 convolutions, 64 channels, ELU; MLP 256 ELU; LSTM 256; linear) maps the
  auxiliary inputs ``a_k`` to an additive update ``lambda^(t+1) = lambda^(t) + f_phi(z, x, a_k)``.
- **Auxiliary inputs** (Sec. 2.2 and the appendix's table of inputs), per component: image ``x``, means ``mu_k``, mask
  ``m_k``, mask logits ``m_hat_k``, mask posterior ``p(m_k | x, mu)``, gradients ``grad_mu L`` and
  ``grad_m L``, pixel-wise log-likelihood ``log p(x | z)``, leave-one-out log-likelihood
  ``log p(x | z_{j != k})``, two coordinate channels (17 image channels); and the vector inputs
  ``lambda_k`` and ``grad_lambda L``. The gradients and the likelihoods are layer-normalised (LN in
  that table). Gradients are computed without a graph (the paper does not back-propagate through them).
- **Objective** (Sec. 2.2): ``L = sum_t (t / T) L^(t)``.

Unlike MONet, IODINE samples ``z`` in eval mode too: all K posteriors start equal, and only the samples
break the symmetry between slots.

Examples:
    >>> model = IODINE(IODINEConfig(num_slots=3, image_size=(32, 32), num_iterations=2, latent_dim=8,
    ...     decoder_channels=16, refine_channels=16, refine_mlp=32, lstm_hidden=32))
    >>> out = model(torch.rand(2, 3, 32, 32))
    >>> tuple(out.logits.shape), tuple(out.extras["nll_steps"].shape)
    ((2, 3, 32, 32), (2, 2))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from spelke.engine.types import ModelOutput
from spelke.errors import ConfigError, ShapeError
from spelke.models.zoo import register_object_centric
from spelke.models.zoo.monet import coordinate_grid, gaussian_kl, gaussian_log_likelihood
from spelke.models.zoo.slot_attention import check_image_batch, config_with_options

__all__ = ["IODINE", "IODINEConfig", "iodine", "mask_gradient", "step_weights"]

#: Image channels of the refinement input: x 3, mu 3, m 1, m_hat 1, mask posterior 1, grad mu 3,
#: grad m 1, log p(x|z) 1, leave-one-out 1, coordinates 2 (Greff et al. 2019, appendix table of inputs).
AUX_CHANNELS = 17


def step_weights(num_iterations: int) -> torch.Tensor:
    """``(T,)`` weights ``t / T`` of the per-step losses (Greff et al. 2019, Sec. 2.2)."""
    return torch.arange(1, num_iterations + 1, dtype=torch.float32) / num_iterations


def mask_gradient(log_n: torch.Tensor, log_px: torch.Tensor) -> torch.Tensor:
    """``d(-log p(x | z)) / d m_k = -N(x; mu_k, sigma^2) / p(x | z)`` per pixel, ``(B, K, H, W)``.

    The closed form of the mask gradient input (the NLL is ``-log sum_k m_k N_k``), computed in log units
    so that a component with a vanishing mask does not divide by zero.

    Args:
        log_n: ``(B, K, H, W)`` per-component log-likelihoods (summed over channels).
        log_px: ``(B, H, W)`` the mixture log-likelihood.
    """
    return -torch.exp(log_n - log_px.unsqueeze(1))


@dataclass(frozen=True)
class IODINEConfig:
    """IODINE hyper-parameters; the defaults are the paper's CLEVR settings (thesis App. B.3.3: "the
    original configuration worked well enough")."""

    num_slots: int = 11
    """K; the ClevrTex code's setting (``K=11``; the thesis does not state K)."""
    num_iterations: int = 5
    """T refinement steps (paper: T = 5; ClevrTex code: 5)."""
    image_size: tuple[int, int] = (128, 128)
    """(H, W); thesis Table 2.2: 128x128 input."""
    latent_dim: int = 64
    """Size of each ``z_k`` (paper App., CLEVR: 64)."""
    sigma: float = 0.1
    """Fixed output scale of every component (paper App., CLEVR: 0.1)."""
    decoder_channels: int = 64
    """Channels of the broadcast decoder's 3x3 convolutions (paper App.: 64)."""
    decoder_layers: int = 4
    """3x3 convolutions (ELU) in the decoder (paper App.: 4)."""
    refine_channels: int = 64
    """Channels of the refinement network's 3x3 stride-2 convolutions (paper App.: 64)."""
    refine_layers: int = 4
    """Stride-2 convolutions (ELU) in the refinement network (paper App.: 4)."""
    refine_mlp: int = 256
    """Width of the MLP after the convolutions (paper App.: 256)."""
    lstm_hidden: int = 256
    """LSTM state size (paper App.: 256)."""
    sigmoid_means: bool = True
    """Squash the decoded means into (0, 1) (not stated in the paper)."""
    stop_input_gradients: bool = True
    """Detach every auxiliary input of the refinement network (the gradients always are)."""
    learning_rate: float = 3e-4
    """Adam learning rate (paper App.)."""
    batch_size: int = 32
    """Paper App.: 32 (over 8 GPUs); ClevrTex code: 32."""
    grad_clip: float = 5.0
    """Gradient-norm clipping (ClevrTex code; the paper clips gradients too)."""
    max_steps: int = 300_000
    """Thesis App. B.3.3: "trained for 300k iterations instead of 1M"."""

    def __post_init__(self) -> None:
        for name in (
            "num_slots", "num_iterations", "latent_dim", "decoder_channels", "decoder_layers",
            "refine_channels", "refine_layers", "refine_mlp", "lstm_hidden",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ConfigError(f"iodine option {name} must be >= 1, got {getattr(self, name)}")
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ConfigError(f"iodine image_size must be (H, W), got {self.image_size}")
        if self.sigma <= 0:
            raise ConfigError(f"iodine sigma must be > 0, got {self.sigma}")


class BroadcastDecoder(nn.Module):
    """Spatial-broadcast decoder: ``z (N, D)`` -> means ``(N, 3, H, W)`` and mask logits ``(N, H, W)``."""

    def __init__(self, cfg: IODINEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        cin = cfg.latent_dim + 2
        for _ in range(cfg.decoder_layers):
            layers += [nn.Conv2d(cin, cfg.decoder_channels, 3, padding=1), nn.ELU()]
            cin = cfg.decoder_channels
        layers.append(nn.Conv2d(cin, 4, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = self.cfg.image_size
        grid = coordinate_grid(h, w, z.device, z.dtype).expand(z.shape[0], 2, h, w)
        out = self.net(torch.cat([z[:, :, None, None].expand(-1, -1, h, w), grid], dim=1))
        means = torch.sigmoid(out[:, :3]) if self.cfg.sigmoid_means else out[:, :3]
        return means, out[:, 3]


class RefinementNetwork(nn.Module):
    """``f_phi``: auxiliary image inputs + vector inputs -> ``delta lambda`` (one LSTM step)."""

    def __init__(self, cfg: IODINEConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin, (h, w) = AUX_CHANNELS, cfg.image_size
        for _ in range(cfg.refine_layers):
            layers += [nn.Conv2d(cin, cfg.refine_channels, 3, stride=2, padding=1), nn.ELU()]
            cin, h, w = cfg.refine_channels, (h + 1) // 2, (w + 1) // 2
        self.convs = nn.Sequential(*layers, nn.Flatten())
        self.mlp = nn.Sequential(nn.Linear(cin * h * w, cfg.refine_mlp), nn.ELU())
        self.lstm = nn.LSTMCell(cfg.refine_mlp + 4 * cfg.latent_dim, cfg.lstm_hidden)
        self.out = nn.Linear(cfg.lstm_hidden, 2 * cfg.latent_dim)

    def forward(
        self, aux: torch.Tensor, vec: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        feats = self.mlp(self.convs(aux))
        h, c = self.lstm(torch.cat([feats, vec], dim=1), state)
        return self.out(h), (h, c)


def _ln(x: torch.Tensor, dims: int) -> torch.Tensor:
    """Layer normalisation (no learned gain/bias) over the last ``dims`` axes (the appendix's "LN")."""
    return F.layer_norm(x, x.shape[-dims:])


class IODINE(nn.Module):
    """IODINE: iterative amortised inference in a spatial mixture model (Greff et al. 2019).

    Args:
        config: the hyper-parameters; :attr:`paper_config` holds the paper settings.

    ``forward`` needs autograd for the gradient inputs, so it enables it internally; under
    ``torch.no_grad()`` the returned tensors are detached.

    Raises:
        ShapeError: in ``forward``, for an image batch that is not ``(B, 3, H, W)`` at ``config.image_size``
            or has values outside [0, 1].
    """

    paper_config: ClassVar[IODINEConfig] = IODINEConfig()

    def __init__(self, config: IODINEConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or IODINEConfig()
        self.decoder = BroadcastDecoder(cfg)
        self.refine = RefinementNetwork(cfg)
        # lambda^(1) = (mu, log sigma), learned and shared by all slots (Alg. 1, "trainable lambda^(1)").
        self.lambda0 = nn.Parameter(torch.zeros(2 * cfg.latent_dim))

    def forward(self, image: torch.Tensor) -> ModelOutput:
        """Infer K components of ``(B, 3, H, W)`` images in [0, 1] by T refinement steps.

        Returns:
            ModelOutput of the last step: ``logits`` the log masks ``(B, K, H, W)``, ``slot_recons`` the
            means ``(B, K, 3, H, W)``, ``recon`` ``sum_k m_k mu_k``, ``slots`` the posterior means
            ``(B, K, D)``; ``extras``: ``nll_steps`` and ``kl_steps`` ``(B, T)`` (per-image terms of
            ``L^(t)``), ``z_mu`` and ``z_log_sigma`` ``(B, K, D)``.
        """
        check_image_batch(image, self.config.image_size, "iodine")
        grad_on = torch.is_grad_enabled()
        with torch.enable_grad():
            out = self._infer(image)
        if not grad_on:
            out = out.detach()
        return out

    def _infer(self, image: torch.Tensor) -> ModelOutput:
        cfg = self.config
        b, k, d = image.shape[0], cfg.num_slots, cfg.latent_dim
        h, w = cfg.image_size
        lam = self.lambda0.expand(b, k, 2 * d)
        state = (image.new_zeros(b * k, cfg.lstm_hidden), image.new_zeros(b * k, cfg.lstm_hidden))
        coords = coordinate_grid(h, w, image.device, image.dtype).expand(b, k, 2, h, w)
        x_rep = image.unsqueeze(1).expand(b, k, 3, h, w)
        nll_steps, kl_steps = [], []
        for t in range(cfg.num_iterations):
            if not lam.requires_grad:  # frozen lambda0: still need grad_lambda L as an input
                lam = lam.detach().requires_grad_()
            mu, log_sigma = lam.chunk(2, dim=-1)
            z = mu + log_sigma.exp() * torch.randn_like(mu)  # Alg. 1: z^(t) ~ q_lambda^(t)
            means, mask_logits = self.decoder(z.reshape(b * k, d))
            means, mask_logits = means.view(b, k, 3, h, w), mask_logits.view(b, k, h, w)
            log_m = F.log_softmax(mask_logits, dim=1)  # m = softmax_k(m_hat)
            log_n = gaussian_log_likelihood(image, means, cfg.sigma).sum(dim=2)  # (B, K, H, W)
            joint = log_m + log_n
            log_px = torch.logsumexp(joint, dim=1)  # the mixture likelihood, per pixel
            nll = -log_px.sum(dim=(1, 2))
            kl = gaussian_kl(mu, log_sigma).sum(dim=(1, 2))  # KL(q || p), closed form
            nll_steps.append(nll)
            kl_steps.append(kl)
            if t == cfg.num_iterations - 1:
                break  # the last update would feed no loss
            # Gradient inputs of the refinement network, without a graph (Sec. 2.2).
            g_means, g_lam = torch.autograd.grad((nll + kl).sum(), [means, lam], retain_graph=True)
            with torch.no_grad():
                g_mask = mask_gradient(log_n, log_px)
                resp = torch.exp(joint - log_px.unsqueeze(1))  # mask posterior p(m_k | x, mu)
                m = log_m.exp()
                # log p(x | z_{j != k}) = log(p(x) - m_k N_k) - log(1 - m_k), by the responsibilities.
                loo = (
                    log_px.unsqueeze(1)
                    + torch.log1p(-resp.clamp(max=1 - 1e-6))
                    - torch.log1p(-m.clamp(max=1 - 1e-6))
                )
                normed = torch.cat(
                    [
                        _ln(g_means, 3),
                        _ln(g_mask.unsqueeze(2), 3),
                        _ln(log_px.unsqueeze(1).expand(b, k, h, w).unsqueeze(2), 3),
                        _ln(loo.unsqueeze(2), 3),
                    ],
                    dim=2,
                )
                g_lam_n = _ln(g_lam, 1)
            plain = torch.cat([x_rep, means, log_m.exp().unsqueeze(2), mask_logits.unsqueeze(2)], dim=2)
            if cfg.stop_input_gradients:
                plain = plain.detach()
            aux = torch.cat([plain, resp.unsqueeze(2), normed, coords], dim=2)  # 17 channels
            lam_in = lam.detach() if cfg.stop_input_gradients else lam
            vec = torch.cat([lam_in, g_lam_n], dim=-1)
            delta, state = self.refine(
                aux.reshape(b * k, AUX_CHANNELS, h, w), vec.reshape(b * k, 4 * d), state
            )
            lam = lam + delta.view(b, k, 2 * d)  # Sec. 2.2: additive refinement of lambda
        m = log_m.exp()
        recon = (m.unsqueeze(2) * means).sum(dim=1)
        extras = {
            "nll_steps": torch.stack(nll_steps, dim=1),
            "kl_steps": torch.stack(kl_steps, dim=1),
            "z_mu": mu,
            "z_log_sigma": log_sigma,
        }
        return ModelOutput(logits=log_m, slot_recons=means, recon=recon, slots=mu, extras=extras)

    def objective(self, image: torch.Tensor, output: ModelOutput, step: int = 0) -> dict[str, torch.Tensor]:
        """IODINE's loss ``sum_t (t / T) L^(t)`` (Sec. 2.2), averaged over the batch.

        Returns:
            ``loss`` and the last step's terms: ``recon_nll`` (mixture NLL per image), ``kl`` (latent KL
            per image), ``elbo`` (``-(recon_nll + kl)``), and ``mse`` (of ``recon``, for logging).
        """
        check_image_batch(image, self.config.image_size, "iodine objective")
        t = self.config.num_iterations
        for key in ("nll_steps", "kl_steps"):
            if key not in output.extras:
                raise ShapeError(f"iodine objective needs output.extras['{key}'] (from IODINE.forward)")
            if tuple(output.extras[key].shape) != (image.shape[0], t):
                raise ShapeError(
                    f"iodine output.extras['{key}'] must have shape ({image.shape[0]}, {t}), got "
                    f"{tuple(output.extras[key].shape)}"
                )
        nll, kl = output.extras["nll_steps"], output.extras["kl_steps"]
        weights = step_weights(t).to(device=nll.device, dtype=nll.dtype)
        loss = ((nll + kl) * weights).sum(dim=1).mean()
        out = {
            "loss": loss,
            "recon_nll": nll[:, -1].mean().detach(),
            "kl": kl[:, -1].mean().detach(),
            "elbo": -(nll[:, -1] + kl[:, -1]).mean().detach(),
        }
        if output.recon is not None:
            out["mse"] = F.mse_loss(output.recon, image).detach()
        return out


@register_object_centric("iodine")
def iodine(num_slots: int = 11, image_size: tuple[int, int] = (128, 128), **options: Any) -> IODINE:
    """IODINE (Greff et al. 2019) with the paper's CLEVR settings by default."""
    return IODINE(
        config_with_options(IODINEConfig(), {"num_slots": num_slots, "image_size": image_size, **options})
    )
