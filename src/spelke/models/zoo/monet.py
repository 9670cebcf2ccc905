"""MONet (Burgess et al. 2019, "MONet: Unsupervised Scene Decomposition and Representation").

A recurrent attention network and a component VAE, trained together (Sec. 2, Fig. 2):

- **Attention** (Sec. 2.1, App. B): a U-Net ``alpha_psi(x, s)`` reads the image and the current log
  scope and outputs one logit per pixel. With ``s_0 = 1`` the scope recursion is (Sec. 2.1)
  ``m_k = s_{k-1} * alpha_psi(x; s_{k-1})``, ``s_k = s_{k-1} * (1 - alpha_psi(x; s_{k-1}))`` for
  ``k < K`` and ``m_K = s_{K-1}``, computed in log units (``log alpha = logsigmoid(a)``,
  ``log(1 - alpha) = logsigmoid(-a)``) so the K masks sum to one exactly.
- **Component VAE** (App. B): the encoder reads ``[x, log m_k]`` (four 3x3 stride-2 convolutions with
  32, 32, 64, 64 channels, ReLU; MLP 256 -> 2*16) and parameterises a 16-d diagonal Gaussian posterior;
  the spatial-broadcast decoder (Watters et al. 2019) tiles ``z_k`` onto an ``(H+8, W+8)`` grid with
  x/y coordinates, four unpadded 3x3 convolutions (32, ReLU) and a 1x1 to 4 channels: the component's RGB
  mean and a mask logit.
- **Objective** (Sec. 2, the loss): ``L = -log sum_k m_k p_theta(x | z_k) + beta KL(prod_k q(z_k | x, m_k) || p(z))
  + gamma KL(q_psi(c | x) || p_theta(c | {z_k}))``, the first term a pixel-wise Gaussian mixture with
  the attention masks as weights and scales 0.09 (first component, the background) and 0.11 (the
  others); the last a pixel-wise categorical KL between the attention masks and the softmax of the
  decoded mask logits (App. B: beta = 0.5, gamma = 0.5).

The segmentation is the attention masks (``logits = log m_k``); the reconstruction is
``sum_k m_k x_tilde_k``.

Examples:
    >>> model = MONet(MONetConfig(num_slots=3, image_size=(32, 32), attention_blocks=3,
    ...     attention_base_width=8, attention_max_width=16))
    >>> out = model(torch.rand(2, 3, 32, 32))
    >>> tuple(out.logits.shape), tuple(out.slot_recons.shape)
    ((2, 3, 32, 32), (2, 3, 3, 32, 32))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from spelke._checks import check_shape
from spelke.engine.types import ModelOutput
from spelke.errors import ConfigError, ShapeError
from spelke.models.zoo import register_object_centric
from spelke.models.zoo.slot_attention import check_image_batch, config_with_options

__all__ = [
    "MONet",
    "MONetConfig",
    "coordinate_grid",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "gaussian_mixture_nll",
    "monet",
    "scope_step",
    "stick_breaking",
]


# ----------------------------------------------------------------------------------------------------------
# Pure functions (also used by IODINE).


def scope_step(log_scope: torch.Tensor, alpha_logit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of MONet's scope recursion in log units (Burgess et al. 2019, Sec. 2.1).

    ``m_k = s_{k-1} alpha_k`` and ``s_k = s_{k-1} (1 - alpha_k)`` with ``alpha_k = sigmoid(alpha_logit)``.

    Returns:
        ``(log m_k, log s_k)``, each the shape of ``log_scope``.
    """
    return log_scope + F.logsigmoid(alpha_logit), log_scope + F.logsigmoid(-alpha_logit)


def stick_breaking(alpha_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log masks and log scopes from K-1 given attention logits ``(B, K-1, H, W)`` (Sec. 2.1).

    MONet's attention at step k reads the scope ``s_{k-1}``; this helper takes the logits as given, which
    is enough to check the recursion by hand.

    Returns:
        ``log_masks`` ``(B, K, H, W)`` (the last is the remaining scope ``s_{K-1}``) and ``log_scopes``
        ``(B, K, H, W)`` holding ``s_0 = 1, ..., s_{K-1}``.
    """
    check_shape(alpha_logits, ["B", "J", "H", "W"], "attention logits (J = K - 1)")
    log_s = torch.zeros_like(alpha_logits[:, :1])
    masks, scopes = [], [log_s]
    for k in range(alpha_logits.shape[1]):
        log_m, log_s = scope_step(log_s, alpha_logits[:, k : k + 1])
        masks.append(log_m)
        scopes.append(log_s)
    masks.append(log_s)  # m_K = s_{K-1}
    return torch.cat(masks, dim=1), torch.cat(scopes, dim=1)


def gaussian_mixture_nll(
    image: torch.Tensor,
    means: torch.Tensor,
    log_masks: torch.Tensor,
    sigma: float | torch.Tensor,
    per_channel: bool = False,
    constant: bool = True,
) -> torch.Tensor:
    """Negative log-likelihood of a pixel-wise Gaussian mixture, summed over pixels, per image.

    ``-sum_i log sum_k m_ik prod_c N(x_ic; mu_kic, sigma_k^2)`` (MONet's loss, first term; IODINE's likelihood).
    With ``per_channel`` the mixture is taken per colour channel instead,
    ``-sum_ic log sum_k m_ik N(x_ic; mu_kic, sigma_k^2)`` (the reading of several public
    re-implementations).

    Args:
        image: ``(B, 3, H, W)``.
        means: ``(B, K, 3, H, W)`` component means.
        log_masks: ``(B, K, H, W)`` log mixture weights (summing to one over K in probability).
        sigma: one scale for every component, or ``(K,)`` scales.
        per_channel: mixture per channel rather than per pixel (GENESIS-v2 and eMORL: yes).
        constant: include the ``-log √(2π)`` of each Gaussian (eMORL's code leaves it out).

    Returns:
        ``(B,)`` the NLL of each image (nats).
    """
    dims = check_shape(means, ["B", "K", "3", "H", "W"], "mixture means")
    b, k = dims["B"], dims["K"]
    check_shape(image, [str(b), "3", *map(str, means.shape[-2:])], "mixture image")
    check_shape(log_masks, [str(b), str(k), *map(str, means.shape[-2:])], "mixture log masks")
    log_n = gaussian_log_likelihood(image, means, sigma, constant)  # (B, K, 3, H, W)
    if per_channel:
        return -torch.logsumexp(log_masks.unsqueeze(2) + log_n, dim=1).sum(dim=(1, 2, 3))
    return -torch.logsumexp(log_masks + log_n.sum(dim=2), dim=1).sum(dim=(1, 2))


def gaussian_log_likelihood(
    image: torch.Tensor, means: torch.Tensor, sigma: float | torch.Tensor, constant: bool = True
) -> torch.Tensor:
    """``log N(x_ic; mu_kic, sigma_k^2)`` for every component, pixel and channel, ``(B, K, 3, H, W)``.

    Args:
        image: ``(B, 3, H, W)``.
        means: ``(B, K, 3, H, W)``.
        sigma: one scale, or ``(K,)`` scales.
        constant: include ``-0.5 log(2π)``.
    """
    k = means.shape[1]
    sig = torch.as_tensor(sigma, dtype=means.dtype, device=means.device)
    if sig.ndim == 0:
        sig = sig.expand(k)
    sig = sig.reshape(1, k, 1, 1, 1)
    log_n = -0.5 * ((image.unsqueeze(1) - means) / sig) ** 2 - sig.log()
    return log_n - 0.5 * math.log(2 * math.pi) if constant else log_n


def gaussian_kl(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, sigma^2) || N(0, 1))`` element-wise (Kingma & Welling 2014, App. B)."""
    return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 1.0) - log_sigma


def coordinate_grid(
    h: int, w: int, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Two channels ``(y, x)`` in [-1, 1], ``(2, h, w)``, appended by spatial-broadcast decoders."""
    ys = torch.linspace(-1.0, 1.0, h, device=device, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=device, dtype=dtype)
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"))


# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MONetConfig:
    """MONet hyper-parameters; the defaults are the paper's CLEVR settings (thesis App. B.3: "the
    original configuration worked well enough")."""

    num_slots: int = 11
    """K; the ClevrTex code's CLEVR setting (``n_slots=11``; the thesis does not state K)."""
    image_size: tuple[int, int] = (128, 128)
    """(H, W); thesis Table 2.2: 128x128 input."""
    latent_dim: int = 16
    """Size of each ``z_k`` (App. B: 16)."""
    encoder_channels: tuple[int, ...] = (32, 32, 64, 64)
    """VAE encoder: 3x3 stride-2 convolutions (App. B)."""
    encoder_mlp: int = 256
    """Hidden width of the encoder MLP (App. B: MLP (256, 32) for a 16-d latent)."""
    decoder_channels: int = 32
    """Channels of the broadcast decoder's convolutions (App. B: 32)."""
    decoder_layers: int = 4
    """Unpadded 3x3 convolutions in the decoder (App. B: 4, hence the (H+8, W+8) broadcast)."""
    attention_blocks: int = 6
    """U-Net blocks per path; App. B has 5 at 64x64; 6 keeps the 4x4 bottleneck at 128x128 (the
    ClevrTex code's CLEVR setting)."""
    attention_base_width: int = 64
    """Channels of the first U-Net block, doubling per block (not in the paper; see docs/fidelity.md)."""
    attention_max_width: int = 512
    """Cap of the doubling widths (not in the paper)."""
    attention_mlp_hidden: int = 128
    """Hidden widths of the 3-layer MLP at the U-Net bottleneck (App. B: (128, 128))."""
    sigma_bg: float = 0.09
    """Likelihood scale of the first component (App. B: 0.09)."""
    sigma_fg: float = 0.11
    """Likelihood scale of the other components (App. B: 0.11)."""
    beta: float = 0.5
    """Weight of the latent KL (App. B: 0.5)."""
    gamma: float = 0.5
    """Weight of the mask KL (App. B: 0.5)."""
    sigmoid_rgb: bool = True
    """Squash the decoded means into (0, 1) (not stated in the paper)."""
    per_channel_mixture: bool = False
    """Take the mixture per colour channel (public re-implementations) instead of per pixel."""
    learning_rate: float = 1e-4
    """RMSProp learning rate (App. B)."""
    batch_size: int = 64
    """App. B: 64 (the thesis used 63 = 3 GPUs x 21)."""
    max_steps: int = 300_000
    """Thesis App. B.3: "trained for 300k iterations instead of 1M"."""

    def __post_init__(self) -> None:
        for name in ("num_slots", "latent_dim", "encoder_mlp", "decoder_channels", "attention_blocks"):
            if getattr(self, name) < 1:
                raise ConfigError(f"monet option {name} must be >= 1, got {getattr(self, name)}")
        if self.num_slots < 2:
            raise ConfigError(
                f"monet num_slots must be >= 2 (a background and a scope), got {self.num_slots}"
            )
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ConfigError(f"monet image_size must be (H, W), got {self.image_size}")
        step = 2 ** (self.attention_blocks - 1)
        if any(s % step for s in self.image_size):
            raise ConfigError(
                f"monet image_size {self.image_size} must be divisible by 2**(attention_blocks - 1) = {step}; "
                "pick another size or fewer attention_blocks"
            )
        if min(self.sigma_bg, self.sigma_fg) <= 0:
            raise ConfigError(f"monet sigmas must be > 0, got {self.sigma_bg}, {self.sigma_fg}")


class _Block(nn.Module):
    """3x3 conv -> instance norm -> ReLU (App. B)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm = nn.InstanceNorm2d(cout, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class AttentionNet(nn.Module):
    """MONet's U-Net ``alpha_psi(x, log s)`` (App. B): one attention logit per pixel.

    ``n`` blocks on each path; every down block but the last halves the size (nearest-neighbour), every
    up block but the last doubles it; skip connections join blocks of equal size; a 3-layer MLP maps the
    flattened bottleneck to itself.
    """

    def __init__(self, cfg: MONetConfig) -> None:
        super().__init__()
        n = cfg.attention_blocks
        widths = [min(cfg.attention_base_width * 2**i, cfg.attention_max_width) for i in range(n)]
        self.down = nn.ModuleList(_Block(4 if i == 0 else widths[i - 1], widths[i]) for i in range(n))
        # Up block i reads [x, skip_i] and outputs the width of level i-1 (level 0: its own width).
        self.up = nn.ModuleList(_Block(2 * widths[i], widths[max(i - 1, 0)]) for i in range(n))
        bh, bw = cfg.image_size[0] >> (n - 1), cfg.image_size[1] >> (n - 1)
        flat = widths[-1] * bh * bw
        hid = cfg.attention_mlp_hidden
        self.mlp = nn.Sequential(
            nn.Linear(flat, hid), nn.ReLU(), nn.Linear(hid, hid), nn.ReLU(), nn.Linear(hid, flat), nn.ReLU()
        )
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor, log_scope: torch.Tensor) -> torch.Tensor:
        """Attention logits ``(B, 1, H, W)`` for images ``(B, 3, H, W)`` and log scopes ``(B, 1, H, W)``."""
        h = torch.cat([x, log_scope], dim=1)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h)
            skips.append(h)
            if i < len(self.down) - 1:
                h = F.interpolate(h, scale_factor=0.5, mode="nearest")
        h = self.mlp(h.flatten(1)).view_as(h)
        for i in reversed(range(len(self.up))):
            h = self.up[i](torch.cat([h, skips[i]], dim=1))
            if i > 0:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        return self.head(h)


class ComponentVAE(nn.Module):
    """MONet's component VAE (App. B): encoder on ``[x, log m_k]``, spatial-broadcast decoder."""

    def __init__(self, cfg: MONetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        cin, (h, w) = 4, cfg.image_size
        for c in cfg.encoder_channels:
            layers += [nn.Conv2d(cin, c, 3, stride=2, padding=1), nn.ReLU()]
            cin, h, w = c, (h + 1) // 2, (w + 1) // 2
        self.encoder = nn.Sequential(
            *layers,
            nn.Flatten(),
            nn.Linear(cin * h * w, cfg.encoder_mlp),
            nn.ReLU(),
            nn.Linear(cfg.encoder_mlp, 2 * cfg.latent_dim),
        )
        dec: list[nn.Module] = []
        cin = cfg.latent_dim + 2
        for _ in range(cfg.decoder_layers):
            dec += [nn.Conv2d(cin, cfg.decoder_channels, 3), nn.ReLU()]  # no padding: (H+8) -> H
            cin = cfg.decoder_channels
        dec.append(nn.Conv2d(cin, 4, 1))
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor, log_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior ``mu`` and ``log sigma`` ``(N, D)`` of ``q(z | x, m)``."""
        out = self.encoder(torch.cat([x, log_mask], dim=1))
        return out.chunk(2, dim=1)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RGB means ``(N, 3, H, W)`` and mask logits ``(N, H, W)`` from latents ``(N, D)``."""
        h, w = self.cfg.image_size
        pad = 2 * self.cfg.decoder_layers  # each unpadded 3x3 conv removes 2 pixels
        hh, ww = h + pad, w + pad
        grid = coordinate_grid(hh, ww, z.device, z.dtype).expand(z.shape[0], 2, hh, ww)
        tiled = z[:, :, None, None].expand(-1, -1, hh, ww)
        out = self.decoder(torch.cat([tiled, grid], dim=1))
        rgb = torch.sigmoid(out[:, :3]) if self.cfg.sigmoid_rgb else out[:, :3]
        return rgb, out[:, 3]


class MONet(nn.Module):
    """MONet: recurrent attention + component VAE (Burgess et al. 2019).

    Args:
        config: the hyper-parameters; :attr:`paper_config` holds the paper settings.

    In training mode each ``z_k`` is sampled from its posterior (reparameterised); in eval mode the
    posterior mean is decoded, so inference is deterministic.

    Raises:
        ShapeError: in ``forward``, for an image batch that is not ``(B, 3, H, W)`` at ``config.image_size``
            or has values outside [0, 1].
    """

    paper_config: ClassVar[MONetConfig] = MONetConfig()

    def __init__(self, config: MONetConfig | None = None) -> None:
        super().__init__()
        self.config = config or MONetConfig()
        self.attention = AttentionNet(self.config)
        self.vae = ComponentVAE(self.config)

    def attend(self, image: torch.Tensor) -> torch.Tensor:
        """Log attention masks ``(B, K, H, W)`` by the scope recursion (Sec. 2.1); they sum to one."""
        log_s = torch.zeros_like(image[:, :1])  # log s_0 = log 1
        log_masks = []
        for _ in range(self.config.num_slots - 1):
            log_m, log_s = scope_step(log_s, self.attention(image, log_s))
            log_masks.append(log_m)
        log_masks.append(log_s)  # m_K = s_{K-1}: the last component takes what is left
        return torch.cat(log_masks, dim=1)

    def forward(self, image: torch.Tensor) -> ModelOutput:
        """Decompose ``(B, 3, H, W)`` images in [0, 1] into K components.

        Returns:
            ModelOutput with ``logits`` the log attention masks ``(B, K, H, W)``, ``slot_recons`` the
            decoded means ``(B, K, 3, H, W)``, ``recon`` ``sum_k m_k x_tilde_k``, ``slots`` the posterior
            means ``(B, K, D)``, and in ``extras``: ``decoded_mask_logits`` ``(B, K, H, W)``, ``z_mu``,
            ``z_log_sigma`` ``(B, K, D)``.
        """
        check_image_batch(image, self.config.image_size, "monet")
        b, k = image.shape[0], self.config.num_slots
        h, w = self.config.image_size
        log_masks = self.attend(image)
        # The VAE treats every component alike, so all K run as one batch of B*K.
        x_rep = image.unsqueeze(1).expand(b, k, 3, h, w).reshape(b * k, 3, h, w)
        mu, log_sigma = self.vae.encode(x_rep, log_masks.reshape(b * k, 1, h, w))
        z = mu + log_sigma.exp() * torch.randn_like(mu) if self.training else mu
        rgb, mask_logits = self.vae.decode(z)
        rgb = rgb.view(b, k, 3, h, w)
        recon = (log_masks.exp().unsqueeze(2) * rgb).sum(dim=1)
        extras = {
            "decoded_mask_logits": mask_logits.view(b, k, h, w),
            "z_mu": mu.view(b, k, -1),
            "z_log_sigma": log_sigma.view(b, k, -1),
        }
        return ModelOutput(
            logits=log_masks, slot_recons=rgb, recon=recon, slots=mu.view(b, k, -1), extras=extras
        )

    def sigmas(self, device: torch.device | None = None) -> torch.Tensor:
        """``(K,)`` likelihood scales: ``sigma_bg`` for the first component, ``sigma_fg`` for the rest."""
        s = torch.full((self.config.num_slots,), self.config.sigma_fg, device=device)
        s[0] = self.config.sigma_bg
        return s

    def objective(self, image: torch.Tensor, output: ModelOutput, step: int = 0) -> dict[str, torch.Tensor]:
        """MONet's loss (Sec. 2), per image and averaged over the batch.

        Returns:
            ``loss = recon_nll + beta * kl + gamma * kl_mask`` and the terms: ``recon_nll`` (mixture NLL,
            nats per image), ``kl`` (latent KL summed over components), ``kl_mask`` (mask KL summed over
            pixels), ``mse`` (mean squared error of ``recon``, for logging).
        """
        check_image_batch(image, self.config.image_size, "monet objective")
        if output.slot_recons is None or output.recon is None:
            raise ShapeError("monet objective needs output.slot_recons and output.recon, got None")
        for key in ("decoded_mask_logits", "z_mu", "z_log_sigma"):
            if key not in output.extras:
                raise ShapeError(f"monet objective needs output.extras['{key}'] (from MONet.forward)")
        cfg = self.config
        log_m = output.logits
        nll = gaussian_mixture_nll(
            image, output.slot_recons, log_m, self.sigmas(image.device), per_channel=cfg.per_channel_mixture
        )
        kl = gaussian_kl(output.extras["z_mu"], output.extras["z_log_sigma"]).sum(dim=(1, 2))
        # KL(q_psi(c | x) || p_theta(c | z)) per pixel, categorical over K, summed over pixels.
        log_p = F.log_softmax(output.extras["decoded_mask_logits"], dim=1)
        kl_mask = (log_m.exp() * (log_m - log_p)).sum(dim=(1, 2, 3))
        loss = (nll + cfg.beta * kl + cfg.gamma * kl_mask).mean()
        return {
            "loss": loss,
            "recon_nll": nll.mean().detach(),
            "kl": kl.mean().detach(),
            "kl_mask": kl_mask.mean().detach(),
            "mse": F.mse_loss(output.recon, image).detach(),
        }


@register_object_centric("monet")
def monet(num_slots: int = 11, image_size: tuple[int, int] = (128, 128), **options: Any) -> MONet:
    """MONet (Burgess et al. 2019) with the paper's CLEVR settings by default."""
    return MONet(
        config_with_options(MONetConfig(), {"num_slots": num_slots, "image_size": image_size, **options})
    )
