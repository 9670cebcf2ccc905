"""ViT features: facets against manual computations from the block weights, stride, positional embedding,
weight loading in timm / DINO / DINOv2 formats, the offline hub message. Tiny random models only."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import torch.nn.functional as F  # noqa: E402

from spelke.errors import ConfigError, DataLayoutError, FileFormatError, NotRegisteredError, ShapeError  # noqa: E402
from spelke.features import (  # noqa: E402
    FEATURE_EXTRACTORS,
    ViTFeatures,
    create_feature_extractor,
    dense_features,
    list_feature_extractors,
    load_vit_weights,
    resample_pos_embed,
    token_grid,
)

TINY = dict(depth=3, embed_dim=32, num_heads=2)
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(name: str = "dino-vits8", **kw) -> ViTFeatures:
    return create_feature_extractor(name, **{**TINY, **kw})


def images(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def manual_blocks(ext: ViTFeatures, x: torch.Tensor):
    """Per block: (q, k, v) as (B, heads, T, hd) from the block weights, and the block's input/output."""
    seq, _ = ext.embed(x)
    out = []
    for blk in ext.model.blocks:
        n = blk.norm1
        y = F.layer_norm(seq, n.normalized_shape, n.weight, n.bias, n.eps)
        qkv = y @ blk.attn.qkv.weight.T + blk.attn.qkv.bias  # (B, T, 3C)
        b, t, _ = qkv.shape
        c = ext.num_heads * ext.head_dim
        q, k, v = (qkv[..., i * c : (i + 1) * c].reshape(b, t, ext.num_heads, ext.head_dim) for i in range(3))
        out.append(dict(q=q.transpose(1, 2), k=k.transpose(1, 2), v=v.transpose(1, 2), x_in=seq))
        seq = blk(seq)
        out[-1]["x_out"] = seq
    return out


def to_map(z: torch.Tensor, grid, prefix: int = 1) -> torch.Tensor:
    """(B, heads, T, hd) -> (B, heads*hd, h, w), head-major, patch tokens only."""
    b, heads, _, hd = z.shape
    return z[:, :, prefix:].permute(0, 1, 3, 2).reshape(b, heads * hd, *grid)


# -- facets --------------------------------------------------------------------------------------------


def test_tokens_match_timm_forward_at_native_grid():
    ext = tiny(img_size=32)  # native grid 4x4
    x = images(2, 32, 32)
    out = ext(x, layers=[0, 1, 2], facets=["token", "cls"])
    xn = (x - MEAN) / STD
    with torch.no_grad():
        ref_last = ext.model.forward_features(xn)  # final norm applied
        ref_mid = ext.model.forward_intermediates(xn, indices=[0, 1, 2], norm=False, intermediates_only=True)
    for got, ref in zip(out["token"], ref_mid, strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    last = out["token"][-1].flatten(2).transpose(1, 2)
    torch.testing.assert_close(ext.model.norm(last), ref_last[:, 1:], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ext.model.norm(out["cls"][-1]), ref_last[:, 0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride", [8, 4, 3])
def test_qkv_facets_equal_manual_projection_from_block_weights(stride):
    ext = tiny(stride=stride)
    x = images(2, 37, 45, seed=1)
    grid = ext.grid_size(37, 45)
    with torch.no_grad():
        out = ext(x, layers=[0, 1, 2], facets=["query", "key", "value", "token"])
        ref = manual_blocks(ext, x)
    for i in range(3):
        for facet, z in (("query", "q"), ("key", "k"), ("value", "v")):
            got = out[facet][i]
            assert got.shape == (2, 32, *grid)
            torch.testing.assert_close(got, to_map(ref[i][z], grid), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out["token"][i], to_map(ref[i]["x_out"][:, None], grid))
    # the key of block 1 is the projection of block 0's output tokens (consistency across layers)
    assert not torch.allclose(out["key"][0], out["key"][1])


def test_qkv_layout_dims_is_the_interleaved_channel_order():
    heads_first = tiny()
    dims_first = ViTFeatures(heads_first.model, qkv_layout="dims")
    x = images(1, 24, 32)
    with torch.no_grad():
        a = heads_first.extract(x, "key", -1)
        b = dims_first.extract(x, "key", -1)
    hd, heads = heads_first.head_dim, heads_first.num_heads
    for h in range(heads):
        for d in range(hd):
            torch.testing.assert_close(b[:, d * heads + h], a[:, h * hd + d])


def test_attention_is_softmax_over_keys_and_what_the_block_uses():
    ext = tiny(stride=4)
    x = images(2, 32, 40, seed=2)
    h, w = ext.grid_size(32, 40)
    with torch.no_grad():
        out = ext(x, layers=[1, -1], facets=["attn"])
        ref = manual_blocks(ext, x)
    for attn, i in zip(out["attn"], [1, 2], strict=True):
        assert attn.shape == (2, 2, 1 + h * w, 1 + h * w)
        assert attn.min() >= 0
        torch.testing.assert_close(attn.sum(-1), torch.ones(2, 2, 1 + h * w))
        q, k, v = ref[i]["q"], ref[i]["k"], ref[i]["v"]
        manual = torch.softmax(q @ k.transpose(-2, -1) / ext.head_dim**0.5, dim=-1)
        torch.testing.assert_close(attn, manual, rtol=1e-5, atol=1e-6)
        # attn @ v, heads merged and projected, is the block's attention output
        blk = ext.model.blocks[i]
        merged = (attn @ v).transpose(1, 2).reshape(2, 1 + h * w, -1)
        with torch.no_grad():
            expected = blk.attn(blk.norm1(ref[i]["x_in"]))
        torch.testing.assert_close(blk.attn.proj(merged), expected, rtol=1e-5, atol=1e-5)


def test_forward_keeps_requested_order_and_negative_layers():
    ext = tiny()
    x = images(1, 16, 24)
    with torch.no_grad():
        out = ext(x, layers=[-1, 0, 2], facets="key")
        last = ext.extract(x, "key", 2)
        first = ext.extract(x, "key", 0)
    torch.testing.assert_close(out["key"][0], last)
    torch.testing.assert_close(out["key"][2], last)
    torch.testing.assert_close(out["key"][1], first)


def test_normalize_false_reads_normalised_input():
    ext = tiny()
    raw = ViTFeatures(ext.model, normalize=False)
    x = images(1, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(ext.extract(x), raw.extract((x - MEAN) / STD))


# -- stride and grid -----------------------------------------------------------------------------------


def test_token_grid_for_stride_4_and_8():
    assert token_grid(224, 224, 8, 8) == (28, 28)
    assert token_grid(224, 224, 8, 4) == (55, 55)
    assert token_grid(128, 224, 8, 4) == (31, 55)  # GWM's input at stride 4
    x = images(1, 40, 56)
    ext = tiny()
    for stride, grid in ((8, (5, 7)), (4, (9, 13)), (2, (17, 25)), (1, (33, 49))):
        ext.stride = stride
        assert ext.grid_size(40, 56) == grid
        with torch.no_grad():
            out = ext(x, layers=0, facets=["key", "attn"])
        assert out["key"][0].shape == (1, 32, *grid)
        assert out["attn"][0].shape == (1, 2, 1 + grid[0] * grid[1], 1 + grid[0] * grid[1])


def test_stride_bounds():
    with pytest.raises(ConfigError, match="between 1 and the patch size 8"):
        tiny(stride=9)
    with pytest.raises(ConfigError, match="stride must be >= 1"):
        tiny(stride=0)
    ext = tiny()
    ext.stride = 4
    assert ext.grid_size(16, 16) == (3, 3)


# -- positional embedding ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["dino", "timm"])
def test_pos_embed_native_grid_is_unchanged(mode):
    pos = torch.randn(1, 16, 8)
    assert resample_pos_embed(pos, (4, 4), (4, 4), mode=mode) is pos
    # stride 4 on a 20x20 image gives the native 4x4 grid of a model built for 32x32 at patch 8
    ext = tiny(img_size=32, stride=4, pos_embed_mode=mode)
    assert ext.grid_size(20, 20) == ext.native_grid == (4, 4)
    assert torch.equal(ext._pos_embed((4, 4)), ext.model.pos_embed)


def test_pos_embed_odd_sizes_match_the_references():
    torch.manual_seed(0)
    full = torch.randn(1, 1 + 16, 8)
    # timm mode == timm's own resample_abs_pos_embed
    ref = timm.layers.resample_abs_pos_embed(full, new_size=(7, 5), old_size=(4, 4), num_prefix_tokens=1)
    got = resample_pos_embed(full[:, 1:], (4, 4), (7, 5), mode="timm")
    torch.testing.assert_close(got, ref[:, 1:])
    # dino mode == DINO's interpolate_pos_encoding: scale factor (n + 0.1) / N, bicubic, no antialias
    grid = full[:, 1:].reshape(1, 4, 4, 8).permute(0, 3, 1, 2)
    dino = F.interpolate(
        grid,
        scale_factor=(7.1 / 4, 5.1 / 4),
        mode="bicubic",
        align_corners=False,
        recompute_scale_factor=False,
    )
    got = resample_pos_embed(full[:, 1:], (4, 4), (7, 5), mode="dino")
    torch.testing.assert_close(got, dino.permute(0, 2, 3, 1).reshape(1, 35, 8))
    # the two modes sample slightly different positions
    assert not torch.allclose(got, ref[:, 1:])
    # bicubic weights sum to one: a constant embedding stays constant, also when shrinking
    const = torch.full((1, 16, 3), 0.7)
    for mode in ("dino", "timm"):
        for new in ((7, 5), (3, 2), (1, 9)):
            torch.testing.assert_close(
                resample_pos_embed(const, (4, 4), new, mode=mode), torch.full((1, new[0] * new[1], 3), 0.7)
            )


@pytest.mark.parametrize("name", ["dino-vits8", "dinov2-vits14", "dinov2-vits14-reg"])
def test_odd_input_sizes_run(name):
    ext = tiny(name, stride=3)
    p = ext.patch_size
    h, w = 2 * p + 5, 3 * p + 1
    grid = ((h - p) // 3 + 1, (w - p) // 3 + 1)
    with torch.no_grad():
        out = ext(images(1, h, w), layers=[0, -1], facets=["token", "key", "attn"])
    assert out["token"][1].shape == (1, 32, *grid)
    t = ext.num_prefix_tokens + grid[0] * grid[1]
    assert out["attn"][0].shape == (1, 2, t, t)
    assert ext.num_prefix_tokens == (5 if name.endswith("reg") else 1)


def test_pos_embed_modes_give_different_features_off_grid():
    a = tiny(stride=4)
    b = ViTFeatures(a.model, stride=4, pos_embed_mode="timm")
    x = images(1, 40, 40)
    with torch.no_grad():
        assert not torch.allclose(a.extract(x), b.extract(x))
        x8 = images(1, 224, 224)
        torch.testing.assert_close(
            ViTFeatures(a.model).extract(x8), ViTFeatures(a.model, pos_embed_mode="timm").extract(x8)
        )


# -- weights -------------------------------------------------------------------------------------------


def assert_same_weights(a: ViTFeatures, b: ViTFeatures, atol: float = 0.0) -> None:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=atol, msg=k)


def test_timm_format_round_trip(tmp_path):
    src, other = tiny(seed=1), tiny(seed=2)
    assert not torch.equal(src.model.pos_embed, other.model.pos_embed)
    path = tmp_path / "timm.pth"
    torch.save(src.model.state_dict(), path)
    dst = tiny(weights=path, seed=2, stride=4)
    assert_same_weights(src, dst)
    assert dst.weights == str(path) and dst.weights_report.format == "timm"
    x = images(1, 32, 40)
    with torch.no_grad():
        torch.testing.assert_close(ViTFeatures(src.model, stride=4).extract(x), dst.extract(x))
    # a classifier head is dropped, not loaded
    clf = timm.create_model("vit_small_patch8_224", num_classes=5, **TINY)
    torch.save(clf.state_dict(), tmp_path / "clf.pth")
    report = load_vit_weights(tiny(), tmp_path / "clf.pth")
    assert report.dropped == ["head.weight", "head.bias"] and report.missing == [] and report.unexpected == []


def test_dino_formats_round_trip(tmp_path):
    teacher, student = tiny(seed=1), tiny(seed=3)
    sd_t, sd_s = teacher.model.state_dict(), student.model.state_dict()
    head = {"head.mlp.0.weight": torch.randn(64, 32), "head.last_layer.weight_g": torch.randn(1, 1)}
    ckpt = {
        "teacher": {**{f"backbone.{k}": v for k, v in sd_t.items()}, **head},
        "student": {
            **{f"module.backbone.{k}": v for k, v in sd_s.items()},
            **{f"module.{k}": v for k, v in head.items()},
        },
        "epoch": 100,
        "args": argparse.Namespace(arch="vit_small", patch_size=8),  # DINO's full checkpoints hold these
    }
    path = tmp_path / "checkpoint.pth"
    torch.save(ckpt, path)
    dst = tiny(weights=path, seed=2)
    assert_same_weights(teacher, dst)
    rep = dst.weights_report
    assert (rep.format, rep.nested_under, sorted(rep.dropped)) == ("dino", "teacher", sorted(head))
    assert "teacher" in str(rep) and "2 dropped" in str(rep)
    dst = tiny(weights=path, seed=2, checkpoint_key="student")
    assert_same_weights(student, dst)
    # the released backbone files are plain state dicts with DINO's (= timm's) names
    torch.save(sd_t, tmp_path / "dino_deitsmall8_pretrain.pth")
    assert_same_weights(teacher, tiny(weights=tmp_path / "dino_deitsmall8_pretrain.pth", seed=2))
    # nested under state_dict with DDP prefixes
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd_s.items()}}, tmp_path / "ddp.pth")
    assert_same_weights(student, tiny(weights=tmp_path / "ddp.pth", seed=2))


def _randomise_layer_scale(ext: ViTFeatures) -> None:
    with torch.no_grad():
        for blk in ext.model.blocks:
            blk.ls1.gamma.uniform_(0.5, 1.5)
            blk.ls2.gamma.uniform_(0.5, 1.5)


def test_dinov2_format_round_trip(tmp_path):
    src = tiny("dinov2-vits14", seed=1, img_size=56)  # 4x4 positional grid
    _randomise_layer_scale(src)
    sd = src.model.state_dict()
    assert "blocks.0.ls1.gamma" in sd
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save({**sd, "mask_token": torch.zeros(1, 32)}, path)
    dst = tiny("dinov2-vits14", weights=path, seed=2, stride=7)  # built for 518 px: a 37x37 grid
    rep = dst.weights_report
    assert rep.format == "dinov2" and rep.dropped == ["mask_token"]
    assert any("37x37 -> 4x4" in n for n in rep.notes)
    assert dst.native_grid == (4, 4)
    assert_same_weights(src, dst)
    x = images(1, 50, 64)
    with torch.no_grad():
        torch.testing.assert_close(
            ViTFeatures(src.model, stride=7).extract(x, "token"), dst.extract(x, "token")
        )


def test_dinov2_registers_and_chunked_blocks(tmp_path):
    src = tiny("dinov2-vits14-reg", seed=1, img_size=56)
    _randomise_layer_scale(src)
    sd = dict(src.model.state_dict())
    # write it as facebookresearch/dinov2 does: CLS has a position, registers separate, blocks chunked
    r = torch.randn(1, 1, 32)
    orig = {
        "cls_token": sd.pop("cls_token") - r,
        "pos_embed": torch.cat([r, sd.pop("pos_embed")], dim=1),
        "register_tokens": sd.pop("reg_token"),
        "mask_token": torch.zeros(1, 32),
    }
    for k, v in sd.items():
        if k.startswith("blocks."):
            i = int(k.split(".")[1])
            k = f"blocks.{i // 2}.{i}." + k.split(".", 2)[2]
        orig[k] = v
    path = tmp_path / "dinov2_vits14_reg4_pretrain.pth"
    torch.save(orig, path)
    dst = tiny("dinov2-vits14-reg", weights=path, seed=2)
    assert "block chunks flattened" in dst.weights_report.notes
    torch.testing.assert_close(dst.model.cls_token, src.model.cls_token)
    assert_same_weights(src, dst, atol=1e-6)  # cls_token: (c - r) + r rounds
    x = images(1, 42, 56)
    with torch.no_grad():
        a = ViTFeatures(src.model)(x, layers=[-1], facets=["cls", "key"])
        b = dst(x, layers=[-1], facets=["cls", "key"])
    torch.testing.assert_close(a["cls"][0], b["cls"][0])
    torch.testing.assert_close(a["key"][0], b["key"][0])
    # a register file for a model without registers is refused, saying so
    with pytest.raises(FileFormatError, match="register tokens"):
        tiny("dinov2-vits14", weights=path)


def test_shape_mismatch_is_refused_naming_both_shapes(tmp_path):
    torch.save(tiny(embed_dim=32).model.state_dict(), tmp_path / "w32.pth")
    with pytest.raises(FileFormatError) as e:
        tiny(embed_dim=48, weights=tmp_path / "w32.pth")
    msg = str(e.value)
    assert "patch_embed.proj.weight" in msg and "(32, 3, 8, 8)" in msg and "(48, 3, 8, 8)" in msg
    assert "\n" not in msg
    torch.save(tiny("dino-vits16").model.state_dict(), tmp_path / "s16.pth")
    model = tiny("dino-vits8")
    before = model.native_grid
    with pytest.raises(
        FileFormatError, match=r"\(32, 3, 16, 16\) in the file but \(32, 3, 8, 8\) in the model"
    ):
        load_vit_weights(model, tmp_path / "s16.pth")
    assert model.native_grid == before  # refused before anything changed


def test_missing_and_unexpected_keys(tmp_path):
    deep = tiny(depth=3, seed=1)
    torch.save(deep.model.state_dict(), tmp_path / "deep.pth")
    with pytest.raises(
        FileFormatError, match=r"unexpected keys \(blocks\.2\..*the file has 3 blocks, the model 2"
    ):
        tiny(depth=2, weights=tmp_path / "deep.pth")
    shallow = tiny(depth=2, weights=tmp_path / "deep.pth", strict=False)
    rep = shallow.weights_report
    assert (
        rep.missing == []
        and all(k.startswith("blocks.2.") for k in rep.unexpected)
        and len(rep.unexpected) == 12
    )
    torch.testing.assert_close(shallow.model.blocks[1].attn.qkv.weight, deep.model.blocks[1].attn.qkv.weight)
    with pytest.raises(FileFormatError, match=r"4 missing keys \(blocks\.2\.mlp"):
        partial = {k: v for k, v in deep.model.state_dict().items() if not k.startswith("blocks.2.mlp")}
        torch.save(partial, tmp_path / "partial.pth")
        load_vit_weights(tiny(depth=3), tmp_path / "partial.pth")


def test_unreadable_files(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(FileFormatError, match="cannot read ViT weights"):
        tiny(weights=tmp_path / "junk.pth")
    torch.save({"optimizer": {"lr": 0.1}}, tmp_path / "empty.pth")
    with pytest.raises(FileFormatError, match="no tensors"):
        tiny(weights=tmp_path / "empty.pth")
    with pytest.raises(DataLayoutError, match="does not exist"):
        tiny(weights=tmp_path / "absent.pth")


def test_offline_hub_fails_at_once_saying_where_to_put_the_file(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SPELKE_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    t0 = time.perf_counter()
    with pytest.raises(DataLayoutError) as e:
        tiny("dino-vits8", weights="hub")
    assert time.perf_counter() - t0 < 5
    msg = str(e.value)
    assert str(tmp_path / "weights" / "dino-vits8.pth") in msg
    assert "HF_HUB_OFFLINE" in msg and "dino_deitsmall8_pretrain.pth" in msg and "\n" not in msg
    with pytest.raises(DataLayoutError, match="HF_HUB_OFFLINE"):
        tiny("dino-vits8", weights="hf-hub:timm/vit_small_patch8_224.dino")
    # a file put where the message says is used, offline
    src = tiny(seed=5)
    (tmp_path / "weights").mkdir()
    torch.save(src.model.state_dict(), tmp_path / "weights" / "dino-vits8.pth")
    dst = tiny("dino-vits8", weights="hub")
    assert dst.weights == str(tmp_path / "weights" / "dino-vits8.pth")
    assert_same_weights(src, dst)


# -- registry, dense features, errors ------------------------------------------------------------------


def test_registry_names_map_to_timm_architectures_and_tags():
    names = list_feature_extractors()
    for n in ("dino-vits8", "dino-vits16", "dino-vitb8", "dino-vitb16", "dinov2-vits14", "dinov2-vitb14"):
        assert n in names
    assert list_feature_extractors("dino-vitb*") == ["dino-vitb16", "dino-vitb8"]
    assert FEATURE_EXTRACTORS.entry("dino-vitb8").tags["arch"] == "vit_base_patch8_224"
    for n in names:
        tags = FEATURE_EXTRACTORS.entry(n).tags
        cfg = timm.models.get_pretrained_cfg(f"{tags['arch']}.{tags['tag']}")
        assert cfg is not None and cfg.url, n  # the weights the name promises exist in timm
        assert f"patch{tags['patch']}" in tags["arch"]
    with pytest.raises(NotRegisteredError, match="did you mean 'dino-vits8'"):
        create_feature_extractor("dino-vits9")


def test_random_init_is_seeded():
    a, b, c = tiny(seed=0), tiny(seed=0), tiny(seed=1)
    assert_same_weights(a, b)
    assert not torch.equal(a.model.blocks[0].attn.qkv.weight, c.model.blocks[0].attn.qkv.weight)


def test_dense_features_upsamples_bilinearly():
    ext = tiny(stride=4)
    x = images(2, 40, 56)
    feats = dense_features(ext, x, facet="key", layer=-1)
    assert feats.shape == (2, 32, 40, 56) and not feats.requires_grad
    with torch.no_grad():
        coarse = ext.extract(x, "key", -1)
    torch.testing.assert_close(
        feats, F.interpolate(coarse, size=(40, 56), mode="bilinear", align_corners=False)
    )
    assert dense_features(ext, x, facet="token", layer=0, size=(20, 28)).shape == (2, 32, 20, 28)
    with pytest.raises(ConfigError, match="spatial facet"):
        dense_features(ext, x, facet="attn")


def test_input_and_option_errors():
    ext = tiny()
    with pytest.raises(ShapeError, match=r"\(1, 3, 5, 40\).*8x8 patch"):
        ext(torch.rand(1, 3, 5, 40))
    with pytest.raises(ShapeError, match=r"\(B, 3, H, W\).*\(3, 16, 16\)"):
        ext(torch.rand(3, 16, 16))
    with pytest.raises(ShapeError, match="uint8"):
        ext(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="layer 3 is out of range for a ViT with 3 blocks"):
        ext(torch.rand(1, 3, 16, 16), layers=3)
    with pytest.raises(ConfigError, match="unknown ViT facet 'keys'"):
        ext(torch.rand(1, 3, 16, 16), facets="keys")
    with pytest.raises(ConfigError, match="pos_embed_mode"):
        tiny(pos_embed_mode="nearest")
    assert ext.channels("key") == 32 and ext.channels("attn") == 2 and ext.channels("cls") == 32


def test_gradients_reach_the_weights():
    ext = tiny(stride=4).train()
    ext(images(1, 24, 24), layers=[1], facets="key")["key"][0].square().mean().backward()
    assert ext.model.patch_embed.proj.weight.grad.abs().sum() > 0
    assert ext.model.pos_embed.grad.abs().sum() > 0


def test_registry_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['timm'] = None\n"
        "from spelke.features import list_feature_extractors, FEATURE_EXTRACTORS\n"
        "print(','.join(list_feature_extractors()), FEATURE_EXTRACTORS.entry('dino-vits8').summary)\n"
        "assert 'torch' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert res.returncode == 0, res.stderr
    assert {"dino-vits8", "dinov2-vits14"} <= set(res.stdout.split()[0].split(","))
    assert "DINO ViT-S/8 (Caron et al. 2021); timm vit_small_patch8_224" in res.stdout
