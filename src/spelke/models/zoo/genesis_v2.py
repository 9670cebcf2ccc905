"""GENESIS-v2 (Engelcke, Parker Jones & Posner 2021, "GENESIS-V2: Inferring Unordered Object
Representations without Iterative Refinement"), written here in plain PyTorch from the paper.

Inference (paper Sec. 3, Fig. 2):

1. A U-Net-like encoder maps the image to a feature map; a head maps it to pixel embeddings ζ
   (``embedding_dim`` = 8). With *semi-convolutional* embeddings the pixel's coordinates are added to
   the last two embedding dimensions, the learned part scaled by a gate that starts at 0, so the first
   masks are spatial blobs.
2. The instance colouring stick-breaking process (IC-SBP, paper Alg. 1) turns ζ into K attention masks
   without an ordering on the objects: starting from the scope ``s_0 = 1``, at step k a seed pixel is
   drawn as the argmax of ``s_{k-1} ⊙ u`` with one uniform score ``u ~ U(0,1)`` per pixel, the kernel
   ``α_k = ψ(ζ_seed, ζ)`` (Gaussian ``exp(-||ζ_i - ζ_j||² / σ)``; Laplacian and Epanechnikov too) gives
   the mask ``m_k = s_{k-1} ⊙ α_k`` and the scope ``s_k = s_{k-1} ⊙ (1 - α_k)``; the last mask is the
   last scope, ``m_K = s_{K-1}``, so the masks sum to one. All in log space; α is clamped to
   [0.01, 0.99] with a straight-through gradient as in the authors' code.
3. Object latents: the encoder features are mask-pooled with each ``m_k`` (a masked mean), and an MLP
   gives the posterior ``q(z_k | x) = N(μ_k, σ_k)``.

Generation: a spatial-broadcast decoder maps each ``z_k`` to RGB means ``μ_k`` (sigmoid, "pixel bound")
and mask logits; the decoded masks ``π = softmax_k(logits)`` (unordered, decoded in parallel) mix the
components, ``p(x | z) = Π_{i,c} Σ_k π_ik N(x_ic; μ_ikc, σ_x²)`` with a fixed output std σ_x
(thesis App. B.3.3: 0.7, "crucial for model to learn"). The prior is autoregressive,
``p(z_1) = N(0, I)``, ``p(z_k | z_<k)`` from an LSTM, so the KL is a one-sample Monte-Carlo estimate
``log q(z) - log p(z)``. Training uses GECO (:mod:`spelke.models.zoo.geco`) on the NLL per pixel and
channel: the goal is 0.5655 on CLEVR and 0.5 on CLEVRTEX (thesis App. B.3.3).

The model's segmentation (``ModelOutput.logits``) is the log of the decoded masks π, as in the
ClevrTex benchmark code; the IC-SBP attention masks are in ``extras["attention_logits"]``.

Examples:
    >>> m = GenesisV2(GenesisV2Config(num_slots=3, image_size=(32, 32), feat_dim=16))
    >>> out = m(torch.rand(2, 3, 32, 32))
    >>> tuple(out.logits.shape), tuple(out.slot_recons.shape), tuple(out.slots.shape)
    ((2, 3, 32, 32), (2, 3, 3, 32, 32), (2, 3, 16))
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from spelke._checks import check_shape
from spelke._options import as_bool, as_float, as_int
from spelke.engine.types import ModelOutput
from spelke.errors import ConfigError
from spelke.models.zoo import register_object_centric
from spelke.models.zoo.geco import GECO, GECOConfig, geco_preset
from spelke.models.zoo.monet import coordinate_grid, gaussian_mixture_nll
from spelke.models.zoo.slot_attention import check_image_batch

__all__ = ["GenesisV2", "GenesisV2Config", "genesis_v2", "ic_sbp"]

Kernel = Literal["gaussian", "laplacian", "epanechnikov"]


@dataclass(frozen=True)
class GenesisV2Config:
    """GENESIS-v2's settings; defaults are the ClevrTex benchmark's (thesis App. B.3.3, CLEVRTEX).

    Attributes:
        num_slots: K, the number of components (the thesis does not state it; 11 as the benchmark's
            code and the other zoo models, "one more than the max number of objects").
        image_size: (H, W) of the input (thesis: 128 x 128); both divisible by 16.
        feat_dim: width of the features and size of the latents (GENESIS-v2: 64).
        embedding_dim: size of the IC-SBP pixel embeddings (GENESIS-v2: 8).
        encoder_width: first width of the U-Net (GENESIS-v2: min(feat_dim, 64)); None = that.
        unet_blocks: U-Net levels (GENESIS-v2: log2(size) - 1, a 4 x 4 bottleneck); None = that.
        kernel: the IC-SBP distance kernel (paper: Gaussian).
        semiconv: semi-convolutional embeddings (pixel coordinates added; paper: yes).
        alpha_clamp: clamp of the kernel values, straight-through (authors' code: [0.01, 0.99]).
        pixel_std: σ_x of the Gaussian likelihood (thesis App. B.3.3: 0.7 on CLEVR and CLEVRTEX).
        pixel_bound: sigmoid on the RGB means (GENESIS-v2: yes).
        autoregressive_prior: LSTM prior over the latents (GENESIS-v2: yes); False = N(0, I).
        mask_consistency: add KL(attention masks || decoded masks) to the KL (authors' ``klm_loss``;
            off in the GENESIS-v2 and ClevrTex settings).
        detach_decoded_masks: stop the mask-consistency gradient into the decoded masks (code: yes).
        dataset: the dataset whose GECO goal is used (``clevr``, ``clevrtex``/``full``, variants).
        geco: GECO settings; None = the preset of ``dataset`` (thesis App. B.3.3; GENESIS-v2 code:
            α 0.99, step 1e-5 · 64²/(HW) on the summed NLL, speed-up 10, β = 1/λ from 1).
        learning_rate: Adam learning rate (GENESIS-v2 / ClevrTex code: 1e-4).
        batch_size: images per batch (ClevrTex code: 32).
        train_steps: training iterations (ClevrTex code: 500k).
        grad_clip: gradient-norm clip (none in the GENESIS-v2 settings).
    """

    num_slots: int = 11
    image_size: tuple[int, int] = (128, 128)
    feat_dim: int = 64
    embedding_dim: int = 8
    encoder_width: int | None = None
    unet_blocks: int | None = None
    kernel: Kernel = "gaussian"
    semiconv: bool = True
    alpha_clamp: tuple[float, float] = (0.01, 0.99)
    pixel_std: float = 0.7
    pixel_bound: bool = True
    autoregressive_prior: bool = True
    mask_consistency: bool = False
    detach_decoded_masks: bool = True
    dataset: str = "clevrtex"
    geco: GECOConfig | None = None
    learning_rate: float = 1e-4
    batch_size: int = 32
    train_steps: int = 500_000
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        h, w = self.image_size
        if self.num_slots < 2:
            raise ConfigError(f"GENESIS-v2 needs num_slots >= 2, got {self.num_slots}")
        if h % 16 or w % 16 or h < 16 or w < 16:
            raise ConfigError(
                f"GENESIS-v2's decoder upsamples 16x: image_size must be multiples of 16, got {h}x{w}"
            )
        if self.kernel not in ("gaussian", "laplacian", "epanechnikov"):
            raise ConfigError(f"kernel must be gaussian, laplacian or epanechnikov, got {self.kernel!r}")
        if self.pixel_std <= 0:
            raise ConfigError(f"pixel_std must be > 0, got {self.pixel_std}")
        if self.semiconv and self.embedding_dim < 3:
            raise ConfigError("semi-convolutional embeddings need embedding_dim >= 3")
        if self.geco is None:
            object.__setattr__(self, "geco", geco_preset("genesis-v2", self.dataset))


# ---------------------------------------------------------------------------------------------------
# IC-SBP
# ---------------------------------------------------------------------------------------------------


def _clamp_st(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Clamp the value, keep the identity gradient (straight-through)."""
    return x + (x.clamp(lo, hi) - x).detach()


def initial_kernel_sigma(kernel: str, num_slots: int) -> float:
    """The kernel width at initialisation (GENESIS-v2 code): ψ = 0.5 at a typical distance."""
    if kernel == "gaussian":
        return 1.0 / (num_slots * math.log(2))
    if kernel == "laplacian":
        return 1.0 / (math.sqrt(num_slots) * math.log(2))
    return 2.0 / num_slots


def ic_sbp(
    embeddings: torch.Tensor,
    num_slots: int,
    sigma: torch.Tensor | float,
    kernel: Kernel = "gaussian",
    *,
    seed_scores: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    alpha_clamp: tuple[float, float] | None = (0.01, 0.99),
) -> tuple[torch.Tensor, torch.Tensor]:
    """The instance colouring stick-breaking process (GENESIS-v2 Alg. 1).

    Args:
        embeddings: ``(B, D, H, W)`` pixel embeddings ζ.
        num_slots: K, the number of masks.
        sigma: the kernel width σ (a positive scalar or 0-d tensor).
        kernel: ``"gaussian"`` ``exp(-d²/σ)``, ``"laplacian"`` ``exp(-d/σ)``, ``"epanechnikov"``
            ``max(0, 1 - d²/σ)``, with d the Euclidean distance to the seed's embedding.
        seed_scores: ``(B, H, W)`` the uniform scores u; default drawn with ``generator``.
        generator: random generator for u.
        alpha_clamp: clamp of the kernel values with a straight-through gradient (None: none).

    Returns:
        ``(log_masks, log_scopes)``, both ``(B, K, H, W)``: the log masks ``m_1 .. m_K`` and the log
        scopes ``s_0 .. s_{K-1}`` (``s_0 = 1``; ``m_K = s_{K-1}``).
    """
    b, d, h, w = check_shape(embeddings, ["B", "D", "H", "W"], "IC-SBP embeddings").values()
    if seed_scores is None:
        seed_scores = torch.rand(
            (b, h, w), generator=generator, device=embeddings.device, dtype=embeddings.dtype
        )
    check_shape(seed_scores, [str(b), str(h), str(w)], "IC-SBP seed scores")
    flat = embeddings.flatten(2)  # (B, D, HW)
    u = seed_scores.reshape(b, h * w)
    log_s = embeddings.new_zeros(b, h, w)
    log_masks, log_scopes = [], [log_s]
    for _ in range(num_slots - 1):
        # the seed: the pixel with the largest score among those still in scope (paper Alg. 1)
        idx = (u * log_s.detach().exp().reshape(b, -1)).argmax(dim=1)
        seed = flat.gather(2, idx.view(b, 1, 1).expand(b, d, 1)).squeeze(2)  # (B, D)
        dist2 = (embeddings - seed[:, :, None, None]).pow(2).sum(1)  # (B, H, W)
        if kernel == "gaussian":
            alpha = torch.exp(-dist2 / sigma)
        elif kernel == "laplacian":
            alpha = torch.exp(-dist2.clamp_min(1e-10).sqrt() / sigma)
        elif kernel == "epanechnikov":
            alpha = F.relu(1.0 - dist2 / sigma)
        else:
            raise ConfigError(f"unknown IC-SBP kernel {kernel!r}")
        if alpha_clamp is not None:
            alpha = _clamp_st(alpha, *alpha_clamp)
        log_masks.append(log_s + torch.log(alpha))  # m_k = s_{k-1} α_k
        log_s = log_s + torch.log1p(-alpha)  # s_k = s_{k-1} (1 - α_k)
        log_scopes.append(log_s)
    log_masks.append(log_s)  # m_K = s_{K-1}
    return torch.stack(log_masks, 1), torch.stack(log_scopes[:num_slots], 1)


# ---------------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------------


def _groups(ch: int) -> int:
    g = min(8, ch)
    while ch % g:
        g -= 1
    return g


def conv_gn_relu(cin: int, cout: int, k: int = 3) -> nn.Sequential:
    """Conv (no bias) -> GroupNorm(8) -> ReLU, GENESIS-v2's building block."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.GroupNorm(_groups(cout), cout), nn.ReLU()
    )


class GenesisUNet(nn.Module):
    """GENESIS-v2's encoder: a U-Net with GroupNorm, nearest-neighbour resampling and an MLP bottleneck.

    ``blocks`` levels of conv blocks, halving the resolution between levels (so the bottleneck is
    ``size / 2**(blocks - 1)``); the widths are ``c`` then ``2c`` in the last three levels, the
    bottleneck is an MLP (flattened map -> 128 -> 128 -> map), and the decoder mirrors the encoder with
    skip connections, ending at width ``c`` and full resolution.
    """

    def __init__(self, blocks: int, size: tuple[int, int], width: int, in_channels: int = 3) -> None:
        super().__init__()
        c = width
        enc = [c if i < blocks - 3 else 2 * c for i in range(blocks)]
        dec = [2 * c if i < 2 else c for i in range(blocks)]
        self.down = nn.ModuleList()
        cin = in_channels
        for o in enc:
            self.down.append(conv_gn_relu(cin, o))
            cin = o
        self.bottom = (size[0] // 2 ** (blocks - 1), size[1] // 2 ** (blocks - 1))
        n = enc[-1] * self.bottom[0] * self.bottom[1]
        self.mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, n),
            nn.ReLU(),
        )
        self.up = nn.ModuleList()
        prev = enc[-1]
        for i, o in enumerate(dec):
            self.up.append(conv_gn_relu(prev + enc[-1 - i], o))
            prev = o
        self.out_channels = dec[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            skips.append(x)
            if i < len(self.down) - 1:
                x = F.interpolate(x, scale_factor=0.5, mode="nearest")
        y = self.mlp(x).view(x.shape[0], -1, *self.bottom)
        for i, block in enumerate(self.up):
            y = block(torch.cat([y, skips[-1 - i]], 1))
            if i < len(self.up) - 1:
                y = F.interpolate(y, scale_factor=2.0, mode="nearest")
        return y


class SemiConvEmbedding(nn.Module):
    """Pixel embeddings ``gate · conv1x1(features) + [0, .., 0, y, x]`` (semi-convolutional, gate from 0)."""

    coords: torch.Tensor

    def __init__(self, cin: int, dim: int, size: tuple[int, int], semiconv: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, dim, 1)
        self.semiconv = semiconv
        if semiconv:
            self.gate = nn.Parameter(torch.zeros(1))
            uv = torch.cat([torch.zeros(dim - 2, *size), coordinate_grid(*size)])[None]
            self.register_buffer("coords", uv, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.semiconv:
            return self.conv(x)
        return self.gate * self.conv(x) + self.coords


class BroadcastDecoder(nn.Module):
    """GENESIS-v2's spatial-broadcast decoder: z tiled on a (H/16, W/16) grid with coordinates, four
    stride-2 5x5 transposed convolutions (GroupNorm, ReLU), a 1x1 convolution to RGB + mask logit."""

    coords: torch.Tensor

    def __init__(self, latent: int, size: tuple[int, int]) -> None:
        super().__init__()
        c, c2 = latent, min(latent, 64)
        self.grid = (size[0] // 16, size[1] // 16)
        self.register_buffer("coords", coordinate_grid(*self.grid)[None], persistent=False)
        layers: list[nn.Module] = []
        cin = latent + 2
        for cout in (c, c, c2, c2):
            layers += [
                nn.ConvTranspose2d(cin, cout, 5, 2, 2, 1),
                nn.GroupNorm(_groups(cout), cout),
                nn.ReLU(),
            ]
            cin = cout
        layers.append(nn.Conv2d(cin, 4, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n = z.shape[0]
        x = z[:, :, None, None].expand(-1, -1, *self.grid)
        return self.net(torch.cat([x, self.coords.expand(n, -1, -1, -1)], 1))


# ---------------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------------


class GenesisV2(nn.Module):
    """GENESIS-v2: IC-SBP attention masks, mask-pooled object latents, a broadcast decoder, GECO."""

    paper_config: ClassVar[GenesisV2Config] = GenesisV2Config()

    def __init__(self, config: GenesisV2Config | None = None) -> None:
        super().__init__()
        cfg = config or GenesisV2Config()
        self.config = cfg
        h, w = cfg.image_size
        blocks = cfg.unet_blocks or int(math.log2(min(h, w))) - 1
        if blocks < 2 or h % 2 ** (blocks - 1) or w % 2 ** (blocks - 1):
            raise ConfigError(f"unet_blocks={blocks} does not fit image_size {h}x{w}")
        width = cfg.encoder_width or min(cfg.feat_dim, 64)
        self.encoder = GenesisUNet(blocks, (h, w), width)
        c = self.encoder.out_channels
        f = cfg.feat_dim
        self.seg_head = conv_gn_relu(c, f)
        self.embed = SemiConvEmbedding(f, cfg.embedding_dim, (h, w), cfg.semiconv)
        self.log_sigma = nn.Parameter(torch.tensor(math.log(initial_kernel_sigma(cfg.kernel, cfg.num_slots))))
        self.feat_head = nn.Sequential(conv_gn_relu(c, f), nn.Conv2d(f, 2 * f, 1))
        self.z_head = nn.Sequential(
            nn.LayerNorm(2 * f), nn.Linear(2 * f, 2 * f), nn.ReLU(), nn.Linear(2 * f, 2 * f)
        )
        self.decoder = BroadcastDecoder(f, (h, w))
        if cfg.autoregressive_prior:
            self.prior_lstm = nn.LSTM(f, 4 * f)
            self.prior_linear = nn.Linear(4 * f, 2 * f)
        assert cfg.geco is not None
        self.geco = GECO(cfg.geco)

    # -- parts ---------------------------------------------------------------------------------------

    def attention(
        self, features: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """IC-SBP on the encoder features: ``(log_masks, log_scopes, embeddings)``."""
        emb = self.embed(self.seg_head(features))
        log_m, log_s = ic_sbp(
            emb,
            self.config.num_slots,
            self.log_sigma.exp(),
            self.config.kernel,
            generator=generator,
            alpha_clamp=self.config.alpha_clamp,
        )
        return log_m, log_s, emb

    def prior(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and stds ``(B, K, F)`` of ``p(z_k | z_<k)`` (autoregressive) or of N(0, I)."""
        k = z.shape[1]
        mu, std = torch.zeros_like(z), torch.ones_like(z)
        if self.config.autoregressive_prior and k > 1:
            out, _ = self.prior_lstm(z[:, :-1].transpose(0, 1))  # (K-1, B, 4F): reads z_1 .. z_{K-1}
            m, s = self.prior_linear(out).transpose(0, 1).chunk(2, dim=-1)
            mu = torch.cat([mu[:, :1], torch.tanh(m)], 1)
            std = torch.cat([std[:, :1], torch.sigmoid(s + 4.0) + 1e-4], 1)
        return mu, std

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, K, F)`` latents -> RGB means ``(B, K, 3, H, W)`` and log decoded masks ``(B, K, H, W)``."""
        b, k, _ = z.shape
        out = self.decoder(z.reshape(b * k, -1))
        out = out.view(b, k, 4, *out.shape[-2:])
        rgb = torch.sigmoid(out[:, :, :3]) if self.config.pixel_bound else out[:, :, :3]
        return rgb, F.log_softmax(out[:, :, 3], dim=1)

    # -- forward / objective -------------------------------------------------------------------------

    def forward(self, image: torch.Tensor, generator: torch.Generator | None = None) -> ModelOutput:
        """Decompose ``(B, 3, H, W)`` images in [0, 1] into K components (``generator``: IC-SBP seeds)."""
        check_image_batch(image, self.config.image_size, "GENESIS-v2")
        feats = F.relu(self.encoder(image))
        log_m, log_s, emb = self.attention(feats, generator)
        # object features: mask-weighted means of the feature map (masked pooling)
        m = log_m.exp()
        obj = torch.einsum("bkhw,bchw->bkc", m, self.feat_head(feats)) / (m.sum((2, 3))[..., None] + 1e-5)
        mu, s_raw = self.z_head(obj).chunk(2, dim=-1)
        sigma = F.softplus(s_raw + 0.5) + 1e-8
        z = mu + sigma * torch.randn_like(mu)
        rgb, log_mr = self.decode(z)
        recon = (log_mr.exp()[:, :, None] * rgb).sum(1)
        err = gaussian_mixture_nll(image, rgb, log_mr, self.config.pixel_std, per_channel=True)
        p_mu, p_std = self.prior(z)
        log_q = torch.distributions.Normal(mu, sigma).log_prob(z)
        log_p = torch.distributions.Normal(p_mu, p_std).log_prob(z)
        kl = (log_q - log_p).sum(dim=(1, 2))  # one-sample estimate (autoregressive prior)
        extras = {
            "attention_logits": log_m,
            "log_scopes": log_s,
            "embeddings": emb,
            "err": err,
            "kl": kl,
            "posterior_mu": mu,
            "posterior_sigma": sigma,
        }
        if self.config.mask_consistency:
            target = log_mr.detach() if self.config.detach_decoded_masks else log_mr
            p, q = m.clamp_min(1e-5), target.exp().clamp_min(1e-5)
            extras["kl_m"] = (p * (p.log() - q.log())).sum(dim=(1, 2, 3))
        return ModelOutput(logits=log_mr, slot_recons=rgb, recon=recon, slots=z, extras=extras)

    def objective(self, image: torch.Tensor, output: ModelOutput, step: int) -> dict[str, torch.Tensor]:
        """GECO on the NLL per pixel and channel (GENESIS-v2's ``err + β KL``); λ updates in training."""
        err, kl = output.extras["err"], output.extras["kl"]
        kl_total = kl + output.extras["kl_m"] if "kl_m" in output.extras else kl
        n = image.shape[1] * image.shape[2] * image.shape[3]
        g = self.geco(err, kl_total, n, step)
        terms = {
            "loss": g["loss"],
            "recon_nll": err.mean().detach(),
            "kl": kl.mean().detach(),
            "elbo": (err + kl_total).mean().detach(),
            "mse": (output.recon - image).pow(2).mean().detach()
            if output.recon is not None
            else err.new_zeros(()),
            "constraint": g["constraint"],
            "constraint_ema": g["constraint_ema"],
            "geco_lambda": g["geco_lambda"],
        }
        if "kl_m" in output.extras:
            terms["kl_m"] = output.extras["kl_m"].mean().detach()
        return terms


def _coerce(value: Any, hint: Any, name: str) -> Any:
    """Coerce an option (possibly a CLI string ``key=value`` or a YAML list) to the field's type."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if isinstance(value, str) and type(None) in args and value.strip().lower() in ("none", "null", ""):
        return None
    for t in args:
        if t is bool:
            return as_bool(value, name)
        if t is int and not isinstance(value, bool):
            return as_int(value, name)
        if t is float and not isinstance(value, bool):
            return as_float(value, name)
        if typing.get_origin(t) is tuple:
            items = value
            if isinstance(value, str):
                items = [v for v in value.strip("()[] ").replace("x", ",").split(",") if v.strip()]
            inner = typing.get_args(t)
            if inner and inner[-1] is not Ellipsis and all(i in (int, float) for i in inner):
                return tuple(
                    (as_int if i is int else as_float)(v, name) for v, i in zip(items, inner, strict=False)
                )
            return tuple(tuple(v) if isinstance(v, list) else v for v in items)
        if t is GECOConfig and isinstance(value, dict):
            return GECOConfig(**value)
    return value


def build_config(cls: type, base: Any, num_slots: Any, image_size: Any, options: dict[str, Any]) -> Any:
    """A config from the paper's ``base`` with ``num_slots``, ``image_size`` and ``options`` (field values,
    coerced from CLI strings; ``dataset`` re-selects the GECO preset; ``geco_target`` overrides its target,
    per pixel and channel).

    Raises:
        ConfigError: an unknown option (the message lists the known ones) or a bad value.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)} - {"num_slots", "image_size"}
    unknown = sorted(set(options) - names - {"geco_target"})
    if unknown:
        raise ConfigError(
            f"unknown {cls.__name__} option(s) {', '.join(unknown)}; known: "
            f"{', '.join(sorted(names | {'geco_target'}))} (and the factory's num_slots, image_size)"
        )
    opts = {k: _coerce(v, hints[k], k) for k, v in options.items() if k != "geco_target"}
    if "dataset" in opts and "geco" not in opts:
        opts["geco"] = None  # re-resolve the preset of the new dataset
    size = _coerce(image_size, tuple[int, int], "image_size")
    if len(size) != 2:
        raise ConfigError(f"image_size must be (H, W), got {image_size!r}")
    cfg = replace(base, num_slots=as_int(num_slots, "num_slots", minimum=1), image_size=size, **opts)
    if options.get("geco_target") is not None:
        cfg = replace(cfg, geco=replace(cfg.geco, target=as_float(options["geco_target"], "geco_target")))
    return cfg


@register_object_centric(
    "genesis-v2", aliases=("genesisv2", "genv2"), summary="GENESIS-v2 (Engelcke et al. 2021)"
)
def genesis_v2(num_slots: int = 11, image_size: tuple[int, int] = (128, 128), **options: Any) -> GenesisV2:
    """GENESIS-v2 with the ClevrTex benchmark's settings (thesis App. B.3.3); options override fields.

    Examples:
        >>> m = genesis_v2(num_slots=4, image_size=(32, 32), feat_dim=16, dataset="clevr")
        >>> m.config.geco.target
        0.5655
    """
    return GenesisV2(build_config(GenesisV2Config, GenesisV2.paper_config, num_slots, image_size, options))
