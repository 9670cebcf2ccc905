"""Slot Attention auto-encoder (Locatello et al. 2020, "Object-Centric Learning with Slot Attention").

The object-discovery model of the paper (App. E, the CLEVR 128x128 architecture), with the thesis's
ClevrTex settings (thesis App. B.3.3: "11 slots on all tests", 3 attention iterations, the original
learning rate, batch size and optimiser):

- **Encoder**: four 5x5 convolutions (64 channels, stride 1, ReLU), a soft position embedding (a linear
  map of the 4-channel grid ``[y, x, 1-y, 1-x]`` added to the features), flatten to ``N = H*W`` tokens,
  LayerNorm, MLP (64, ReLU, 64).
- **Slot Attention** (Alg. 1): slots ~ N(mu, diag(sigma^2)) with learned mu, log sigma; for T=3
  iterations: attention softmax-normalised over *slots*, re-normalised over inputs (weighted mean),
  GRU update, residual MLP (hidden 128) on LayerNorm'd slots.
- **Decoder**: each slot broadcast onto an ``(H/16, W/16)`` grid (8x8 at 128x128) with a position
  embedding, four 5x5 stride-2 transposed convolutions (64, ReLU), one 5x5 stride-1 (64, ReLU), and a 3x3
  to 4 channels: RGB and one alpha logit; the alphas are softmax-normalised over slots,
  ``x_hat = sum_k softmax_k(alpha) * rgb_k``.
- **Objective**: mean squared error between the image and the reconstruction (the paper's object-discovery set-up).

As the paper's pipeline, images are mapped from [0, 1] to [-1, 1] before the encoder and the decoder's
RGB is read in that range (``centre_input``); :class:`ModelOutput` carries it back in [0, 1].

Examples:
    >>> model = SlotAttentionAE(SlotAttentionConfig(num_slots=3, image_size=(32, 32), hidden=16,
    ...     slot_dim=16, mlp_hidden=32, decoder_upsamples=2))
    >>> out = model(torch.rand(2, 3, 32, 32))
    >>> tuple(out.logits.shape), tuple(out.slot_recons.shape), tuple(out.slots.shape)
    ((2, 3, 32, 32), (2, 3, 3, 32, 32), (2, 3, 16))
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from spelke._checks import check_shape
from spelke._options import as_bool, as_float, as_int
from spelke.engine.types import ModelOutput
from spelke.errors import ConfigError, ShapeError
from spelke.models.zoo import register_object_centric

__all__ = [
    "SlotAttention",
    "SlotAttentionAE",
    "SlotAttentionConfig",
    "check_image_batch",
    "config_with_options",
    "slot_attention",
]

C = TypeVar("C")


# ----------------------------------------------------------------------------------------------------------
# Helpers shared by the zoo modules (MONet and IODINE import them from here).


def check_image_batch(image: torch.Tensor, image_size: tuple[int, int], name: str) -> None:
    """Check that ``image`` is a float ``(B, 3, H, W)`` batch at the model's size with values in [0, 1].

    Raises:
        ShapeError: naming the expected and the actual shape, dtype or value range.
    """
    if not isinstance(image, torch.Tensor):
        raise ShapeError(
            f"{name} input image must be a torch.Tensor of shape (B, 3, H, W), got {type(image).__name__}"
        )
    h, w = image_size
    if image.ndim == 4 and image.shape[1] == 3 and tuple(image.shape[-2:]) != (h, w):
        raise ShapeError(
            f"{name} input image must have shape (B, 3, {h}, {w}) (the model's image_size), got "
            f"{tuple(image.shape)}; resize the images or build the model with "
            f"image_size=({image.shape[2]}, {image.shape[3]})"
        )
    check_shape(image, ["B", "3", str(h), str(w)], f"{name} input image")
    if not torch.is_floating_point(image):
        raise ShapeError(
            f"{name} input image must be a float tensor in [0, 1], got dtype {image.dtype}; "
            "divide uint8 images by 255"
        )
    lo, hi = torch.stack(torch.aminmax(image.detach())).float().tolist()  # one host sync, not two
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ShapeError(
            f"{name} input image must hold values in [0, 1], got range [{lo:.3g}, {hi:.3g}]; "
            "undo any mean/std normalisation (and divide uint8 images by 255)"
        )


def _coerce(default: Any, value: Any, name: str) -> Any:
    """Coerce an option (possibly a CLI string) to the type of the field's default."""
    if isinstance(default, bool):
        return as_bool(value, name)
    if isinstance(default, int):
        return as_int(value, name)
    if isinstance(default, float):
        return as_float(value, name)
    if isinstance(default, tuple):
        items = value
        if isinstance(value, str):
            items = [s for s in value.strip().strip("()[]").replace("x", ",").split(",") if s.strip()]
        if not isinstance(items, list | tuple):
            items = [items]
        kind = type(default[0]) if default else float
        conv = as_int if kind is int else as_float
        return tuple(conv(v, name) for v in items)
    return value


def config_with_options(base: C, options: dict[str, Any]) -> C:
    """``base`` (a config dataclass) with ``options`` applied, each coerced to its field's type.

    Raises:
        ConfigError: for an unknown option (the message lists the valid ones) or a bad value.
    """
    names = [f.name for f in fields(base)]  # type: ignore[arg-type]
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for {type(base).__name__}; valid options: "
            f"{', '.join(names)}"
        )
    return replace(base, **{k: _coerce(getattr(base, k), v, k) for k, v in options.items()})  # type: ignore[type-var]


def position_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The 4-channel grid ``[y, x, 1-y, 1-x]`` in [0, 1], ``(4, h, w)`` (Locatello et al. 2020, App. E)."""
    ys = torch.linspace(0.0, 1.0, h, device=device, dtype=dtype)
    xs = torch.linspace(0.0, 1.0, w, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gy, gx, 1.0 - gy, 1.0 - gx])


# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotAttentionConfig:
    """Slot Attention hyper-parameters; the defaults are the paper/thesis settings.

    Architecture (Locatello et al. 2020, App. E "object discovery", CLEVR at 128x128) and training
    (App. E; thesis App. B.3.3 keeps "the original learning rate, batch size, and optimizer").
    """

    num_slots: int = 11
    """K; thesis App. B.3.3: "We use 11 slots on all tests"."""
    num_iterations: int = 3
    """T attention iterations; thesis App. B.3.3: best "when trained using 3" (paper: 3)."""
    image_size: tuple[int, int] = (128, 128)
    """(H, W) of the input; thesis Table 2.2: 128x128 input."""
    encoder_layers: int = 4
    """Convolutions in the encoder CNN (paper App. E: 4)."""
    encoder_kernel: int = 5
    """Their kernel size (paper App. E: 5x5, stride 1)."""
    hidden: int = 64
    """Channels of the encoder, the token MLP and the decoder (paper App. E: 64)."""
    slot_dim: int = 64
    """D, the slot size (paper App. E: 64)."""
    mlp_hidden: int = 128
    """Hidden width of the slot-update MLP (paper App. E: 128)."""
    decoder_upsamples: int = 4
    """Stride-2 transposed convolutions; the broadcast grid is ``image_size / 2**n`` (paper: 4, 8x8)."""
    epsilon: float = 1e-8
    """Added to the attention before the weighted mean (paper Alg. 1)."""
    centre_input: bool = True
    """Map images to [-1, 1] for the network and the loss, as the paper's data pipeline."""
    learning_rate: float = 4e-4
    """Adam learning rate (paper App. E)."""
    batch_size: int = 64
    """Paper App. E: 64 (the thesis keeps the original batch size)."""
    warmup_steps: int = 10_000
    """Linear learning-rate warm-up (paper App. E)."""
    decay_rate: float = 0.5
    """Exponential decay ``lr * decay_rate ** (step / decay_steps)`` (paper App. E)."""
    decay_steps: int = 100_000
    """See ``decay_rate`` (paper App. E)."""
    max_steps: int = 500_000
    """Training steps (paper App. E; thesis App. B.3.3: "suggested 500k iterations")."""

    def __post_init__(self) -> None:
        for name in ("num_slots", "num_iterations", "encoder_layers", "hidden", "slot_dim", "mlp_hidden"):
            if getattr(self, name) < 1:
                raise ConfigError(f"slot-attention option {name} must be >= 1, got {getattr(self, name)}")
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ConfigError(f"slot-attention image_size must be (H, W), got {self.image_size}")
        if self.encoder_kernel < 1 or self.encoder_kernel % 2 == 0:
            raise ConfigError(f"slot-attention encoder_kernel must be odd, got {self.encoder_kernel}")
        step = 2**self.decoder_upsamples
        if self.decoder_upsamples < 0 or any(s % step for s in self.image_size):
            raise ConfigError(
                f"slot-attention image_size {self.image_size} must be divisible by 2**decoder_upsamples = "
                f"{step}; pick a size that is a multiple of {step} or lower decoder_upsamples"
            )


class SoftPositionEmbed(nn.Module):
    """Adds a learned linear projection of the ``[y, x, 1-y, 1-x]`` grid to a feature map (App. E)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(4, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = position_grid(x.shape[-2], x.shape[-1], x.device, x.dtype)  # (4, h, w)
        return x + self.proj(grid.permute(1, 2, 0)).permute(2, 0, 1)


class SlotAttention(nn.Module):
    """The Slot Attention module (Locatello et al. 2020, Alg. 1).

    Args:
        num_slots: K.
        dim: D, the size of the slots and of the projected keys, queries and values.
        input_dim: size of the input tokens.
        iterations: T.
        mlp_hidden: hidden width of the residual slot MLP.
        epsilon: added to the attention weights before normalising over inputs.
    """

    def __init__(
        self, num_slots: int, dim: int, input_dim: int, iterations: int, mlp_hidden: int, epsilon: float
    ) -> None:
        super().__init__()
        self.num_slots, self.dim, self.iterations, self.epsilon = num_slots, dim, iterations, epsilon
        self.scale = dim**-0.5
        self.norm_inputs = nn.LayerNorm(input_dim)
        self.norm_slots = nn.LayerNorm(dim)
        self.norm_mlp = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(input_dim, dim, bias=False)
        self.to_v = nn.Linear(input_dim, dim, bias=False)
        self.gru = nn.GRUCell(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_hidden), nn.ReLU(), nn.Linear(mlp_hidden, dim))
        # Learned Gaussian slot initialisation, shared by all slots (Sec. 2.1).
        self.slots_mu = nn.Parameter(torch.empty(1, 1, dim))
        self.slots_log_sigma = nn.Parameter(torch.empty(1, 1, dim))
        nn.init.xavier_uniform_(self.slots_mu)
        nn.init.xavier_uniform_(self.slots_log_sigma)

    def initial_slots(self, batch: int) -> torch.Tensor:
        """Sample ``(B, K, D)`` slots from N(mu, sigma^2) (Alg. 1, line 1)."""
        noise = torch.randn(batch, self.num_slots, self.dim, device=self.slots_mu.device)
        return self.slots_mu + self.slots_log_sigma.exp() * noise.to(self.slots_mu.dtype)

    def forward(
        self, inputs: torch.Tensor, slots: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Slots ``(B, K, D)`` and the last attention ``(B, K, N)`` (softmax over K) for ``(B, N, C)`` inputs."""
        b = check_shape(inputs, ["B", "N", "C"], "slot attention inputs")["B"]
        inputs = self.norm_inputs(inputs)
        k, v = self.to_k(inputs), self.to_v(inputs)  # (B, N, D)
        slots = self.initial_slots(b) if slots is None else slots
        attn = inputs.new_zeros(b, self.num_slots, inputs.shape[1])
        for _ in range(self.iterations):
            prev = slots
            q = self.to_q(self.norm_slots(slots))  # (B, K, D)
            # Alg. 1: attn = softmax(k q^T / sqrt(D), axis="slots"): slots compete for each input.
            logits = torch.einsum("bnd,bkd->bkn", k, q) * self.scale
            attn = logits.softmax(dim=1)
            # Alg. 1: updates = WeightedMean(weights=attn + eps, values=v).
            weights = attn + self.epsilon
            weights = weights / weights.sum(dim=-1, keepdim=True)
            updates = torch.einsum("bkn,bnd->bkd", weights, v)
            # Alg. 1: slots = GRU(state=slots_prev, inputs=updates); slots += MLP(LayerNorm(slots)).
            slots = self.gru(updates.reshape(-1, self.dim), prev.reshape(-1, self.dim)).view_as(prev)
            slots = slots + self.mlp(self.norm_mlp(slots))
        return slots, attn


class SlotAttentionAE(nn.Module):
    """The Slot Attention auto-encoder for unsupervised object discovery (Locatello et al. 2020).

    Args:
        config: the hyper-parameters; :attr:`paper_config` holds the paper/thesis settings.

    Raises:
        ShapeError: in ``forward``, for an image batch that is not ``(B, 3, H, W)`` at ``config.image_size``
            or has values outside [0, 1].
    """

    paper_config: ClassVar[SlotAttentionConfig] = SlotAttentionConfig()

    def __init__(self, config: SlotAttentionConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or SlotAttentionConfig()
        c, pad = cfg.hidden, cfg.encoder_kernel // 2
        layers: list[nn.Module] = []
        for i in range(cfg.encoder_layers):
            layers += [nn.Conv2d(3 if i == 0 else c, c, cfg.encoder_kernel, padding=pad), nn.ReLU()]
        self.encoder = nn.Sequential(*layers)
        self.encoder_pos = SoftPositionEmbed(c)
        self.token_norm = nn.LayerNorm(c)
        self.token_mlp = nn.Sequential(nn.Linear(c, c), nn.ReLU(), nn.Linear(c, c))
        self.slot_attention = SlotAttention(
            cfg.num_slots, cfg.slot_dim, c, cfg.num_iterations, cfg.mlp_hidden, cfg.epsilon
        )
        self.broadcast = (
            cfg.image_size[0] >> cfg.decoder_upsamples,
            cfg.image_size[1] >> cfg.decoder_upsamples,
        )
        self.decoder_pos = SoftPositionEmbed(cfg.slot_dim)
        dec: list[nn.Module] = []
        cin = cfg.slot_dim
        for _ in range(cfg.decoder_upsamples):  # 5x5 stride-2 transposed convs, each doubling the size
            dec += [nn.ConvTranspose2d(cin, c, 5, stride=2, padding=2, output_padding=1), nn.ReLU()]
            cin = c
        dec += [nn.ConvTranspose2d(cin, c, 5, stride=1, padding=2), nn.ReLU()]
        dec += [nn.ConvTranspose2d(c, 4, 3, stride=1, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, H*W, C)`` of network-space images ``(B, 3, H, W)``."""
        f = self.encoder_pos(self.encoder(x))
        tokens = f.flatten(2).transpose(1, 2)
        return self.token_mlp(self.token_norm(tokens))

    def decode(self, slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-slot RGB ``(B, K, 3, H, W)`` (network space) and alpha logits ``(B, K, H, W)``."""
        b, k, d = slots.shape
        h0, w0 = self.broadcast
        z = slots.reshape(b * k, d, 1, 1).expand(b * k, d, h0, w0)  # spatial broadcast
        out = self.decoder(self.decoder_pos(z))
        out = out.view(b, k, 4, *out.shape[-2:])
        return out[:, :, :3], out[:, :, 3]

    def forward(self, image: torch.Tensor) -> ModelOutput:
        """Decompose ``(B, 3, H, W)`` images in [0, 1] into K slots.

        Returns:
            ModelOutput with ``logits`` the log alpha masks ``(B, K, H, W)`` (log-softmax over slots),
            ``slot_recons`` ``(B, K, 3, H, W)`` and ``recon`` ``(B, 3, H, W)`` in [0, 1] units,
            ``slots`` ``(B, K, D)``, and ``extras["attn"]`` ``(B, K, H*W)`` the last attention.
        """
        check_image_batch(image, self.config.image_size, "slot-attention")
        x = image * 2.0 - 1.0 if self.config.centre_input else image
        slots, attn = self.slot_attention(self.encode(x))
        rgb, alpha = self.decode(slots)
        log_masks = F.log_softmax(alpha, dim=1)  # paper App.: masks normalised with a softmax over slots
        recon = (log_masks.exp().unsqueeze(2) * rgb).sum(dim=1)
        if self.config.centre_input:  # back to [0, 1] units
            rgb, recon = (rgb + 1.0) / 2.0, (recon + 1.0) / 2.0
        return ModelOutput(logits=log_masks, slot_recons=rgb, recon=recon, slots=slots, extras={"attn": attn})

    def objective(self, image: torch.Tensor, output: ModelOutput, step: int = 0) -> dict[str, torch.Tensor]:
        """The paper's loss: mean squared error of the reconstruction (in network units).

        Returns:
            ``loss`` (= ``mse``, in [-1, 1] units with ``centre_input``, as the paper) and ``mse_01`` (the
            same error in [0, 1] units, for logging).
        """
        check_image_batch(image, self.config.image_size, "slot-attention objective")
        if output.recon is None:
            raise ShapeError("slot-attention objective needs output.recon, got None")
        check_shape(output.recon, [str(image.shape[0]), "3", *map(str, image.shape[-2:])], "output recon")
        mse_01 = F.mse_loss(output.recon, image)
        mse = mse_01 * 4.0 if self.config.centre_input else mse_01  # (2a - 2b)^2 = 4 (a - b)^2
        return {"loss": mse, "mse": mse.detach(), "mse_01": mse_01.detach()}


@register_object_centric("slot-attention", aliases=("sa", "slota"))
def slot_attention(
    num_slots: int = 11, image_size: tuple[int, int] = (128, 128), **options: Any
) -> SlotAttentionAE:
    """Slot Attention auto-encoder (Locatello et al. 2020), thesis App. B.3.3 settings by default."""
    cfg = config_with_options(
        SlotAttentionConfig(), {"num_slots": num_slots, "image_size": image_size, **options}
    )
    return SlotAttentionAE(cfg)
