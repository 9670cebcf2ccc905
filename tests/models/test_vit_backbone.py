"""ViT backbones: facets of four blocks as res2..res5 at one stride, layer checks, weights, gradients."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

import spelke.models.backbones.vit as vit_backbones  # noqa: E402  (registers the ViT backbones)
from spelke.errors import ConfigError  # noqa: E402
from spelke.features import ViTFeatures, create_feature_extractor  # noqa: E402
from spelke.models.backbones import BACKBONES, Backbone  # noqa: E402

TINY = dict(depth=4, embed_dim=32, num_heads=2)


pytestmark = pytest.mark.usefixtures("one_thread")


def x_rand(b=2, h=40, w=56, seed=0):
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_registered_names():
    names = BACKBONES.list("vit-*")
    for n in (
        "vit-dino-s8",
        "vit-dino-b8",
        "vit-dino-s16",
        "vit-dino-b16",
        "vit-dinov2-s14",
        "vit-dinov2-b14",
    ):
        assert n in names
    assert BACKBONES.entry("vit-dino-b8").tags["extractor"] == "dino-vitb8"


def test_key_facets_of_four_blocks_at_one_stride():
    bb = BACKBONES.create("vit-dino-s8", stride=4, layers=(0, 1, 2, 3), **TINY)
    assert isinstance(bb, Backbone) and isinstance(bb, vit_backbones.ViTBackbone)
    assert bb.out_channels == {"res2": 32, "res3": 32, "res4": 32, "res5": 32}
    assert bb.out_strides == {"res2": 4, "res3": 4, "res4": 4, "res5": 4}
    x = x_rand()
    with torch.no_grad():
        out = bb(x)
        # the same weights (same seed) through a plain extractor that normalises itself
        ref = create_feature_extractor("dino-vits8", stride=4, **TINY)(x, layers=[0, 1, 2, 3], facets="key")
    assert list(out) == ["res2", "res3", "res4", "res5"]
    for name, r in zip(out, ref["key"], strict=True):
        assert out[name].shape == (2, 32, 9, 13)  # ((40 - 8) // 4 + 1, (56 - 8) // 4 + 1)
        torch.testing.assert_close(out[name], r)
    assert not torch.allclose(out["res2"], out["res5"])


def test_default_layers_are_gwm_blocks_and_checked_against_depth():
    bb = BACKBONES.create("vit-dino-s8", depth=12, embed_dim=32, num_heads=2)
    assert bb.layers == (5, 7, 9, 11) and bb.out_strides["res5"] == 8
    with pytest.raises(ConfigError, match=r"out of range for a ViT with 4 blocks.*layers=\(0, 1, 2, 3\)"):
        BACKBONES.create("vit-dino-s8", **TINY)
    with pytest.raises(ConfigError, match=r"layers=\(1, 3, 5, 7\)"):
        BACKBONES.create("vit-dino-s8", depth=8, embed_dim=32, num_heads=2, layers=(5, 7, 9, 11))


def test_fewer_layers_and_other_facets():
    bb = BACKBONES.create("vit-dino-s8", layers=(-2, -1), facet="token", **TINY)
    assert bb.layers == (2, 3) and list(bb.out_channels) == ["res4", "res5"]
    with torch.no_grad():
        out = bb(x_rand(1, 24, 32))
    assert out["res5"].shape == (1, 32, 3, 4)
    with pytest.raises(ConfigError, match="facet must be one of"):
        BACKBONES.create("vit-dino-s8", facet="attn", layers=(0,), **TINY)
    with pytest.raises(ConfigError, match="1 to 4 maps"):
        BACKBONES.create("vit-dino-s8", layers=(0, 1, 2, 3, 3), **TINY)


def test_dinov2_backbone_stride_and_registers():
    bb = BACKBONES.create("vit-dinov2-s14", layers=(0, 1, 2, 3), **TINY)
    assert bb.out_strides["res2"] == 14 and bb.stride == 14
    with torch.no_grad():
        out = bb(x_rand(1, 42, 70))
    assert out["res3"].shape == (1, 32, 3, 5)


def test_pretrained_file_and_gradients(tmp_path):
    src = create_feature_extractor("dino-vits8", seed=7, **TINY)
    torch.save(
        {"teacher": {f"backbone.{k}": v for k, v in src.model.state_dict().items()}}, tmp_path / "w.pth"
    )
    bb = BACKBONES.create(
        "vit-dino-s8", pretrained=str(tmp_path / "w.pth"), stride=4, layers=(0, 1, 2, 3), **TINY
    )
    torch.testing.assert_close(bb.extractor.model.pos_embed, src.model.pos_embed, rtol=0, atol=0)
    assert bb.extractor.weights_report.format == "dino"
    assert bb.training  # trainable, as GWM fine-tunes it
    x = x_rand(1, 24, 24)
    with torch.no_grad():
        want = ViTFeatures(src.model, stride=4).extract(x, "key", 3)
    out = bb(x)
    torch.testing.assert_close(out["res5"], want)
    sum(v.square().mean() for v in out.values()).backward()
    no_grad = {n for n, p in bb.extractor.model.named_parameters() if p.grad is None}
    assert bb.extractor.model.patch_embed.proj.weight.grad.abs().sum() > 0
    # block 3's key needs nothing after block 3's qkv: exactly those parameters get no gradient
    after = {
        f"blocks.3.{m}.{w}" for m in ("attn.proj", "norm2", "mlp.fc1", "mlp.fc2") for w in ("weight", "bias")
    }
    assert no_grad == after | {"norm.weight", "norm.bias"}
