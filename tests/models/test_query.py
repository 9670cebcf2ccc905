"""Query segmenters (MaskFormer / Mask2Former forms): shapes, masked attention, pixel decoder, weights."""

from __future__ import annotations

import math

import pytest
import torch

from spelke.engine.types import ModelOutput
from spelke.errors import ConfigError, ShapeError
from spelke.models import create_segmenter, list_segmenters
from spelke.models.backbones import create_backbone
from spelke.models.query import (
    DecoderLayer,
    PixelDecoder,
    QuerySegmenter,
    attention_mask_from_logits,
    sine_position_encoding,
)

TINY = {"hidden_dim": 32, "dec_layers": 2, "heads": 4, "ffn_dim": 64, "conv_dim": 32, "mask_dim": 32}
SACNN = {"channels": 8, "mlp_channels": 16}


def _tiny(name, **kw):
    opts = {**TINY, "backbone": "sacnn", "backbone_options": SACNN, **kw}
    return create_segmenter(name, **opts)


def test_registered_names_and_alias():
    names = list_segmenters()
    assert {"query", "mask2former"} <= set(names)
    assert list_segmenters("maskformer") == ["query"]  # the alias
    m = _tiny("maskformer")
    assert m.layout == "maskformer" and not m.masked_attention
    m2 = _tiny("mask2former")
    assert m2.layout == "mask2former" and m2.masked_attention


@pytest.mark.parametrize("name", ["query", "mask2former"])
@pytest.mark.parametrize("backbone", ["sacnn", "resnet18"])
def test_logits_at_input_size_and_masks_sum_to_one(name, backbone):
    torch.manual_seed(0)
    opts = {"backbone_options": SACNN} if backbone == "sacnn" else {}
    net = create_segmenter(name, num_masks=3, backbone=backbone, **TINY, **opts).eval()
    sizes = [(48, 64), (50, 70), (96, 96)] if backbone == "sacnn" else [(50, 70)]
    with torch.no_grad():
        for size in sizes:
            out = net(torch.rand(2, 3, *size))
            assert isinstance(out, ModelOutput)
            assert out.logits.shape == (2, 3, *size)
            assert out.slots.shape == (2, 3, 32)
            torch.testing.assert_close(out.masks.sum(dim=1), torch.ones(2, *size))


@pytest.mark.parametrize("name", ["query", "mask2former"])
def test_gradients_reach_backbone_first_layer_and_queries(name):
    torch.manual_seed(0)
    net = _tiny(name, num_masks=3)
    out = net(torch.rand(2, 3, 40, 48))
    (out.masks[:, 0] * torch.linspace(0, 1, 48)).mean().backward()
    first = net.backbone.stage1[0][0].weight
    assert first.grad is not None and first.grad.abs().sum() > 0
    assert net.query_embed.weight.grad.abs().sum() > 0
    unused = [n for n, p in net.named_parameters() if p.grad is None]
    assert not unused, unused


def test_swin_backbone_end_to_end():
    from spelke.models.backbones.cnn import SwinBackbone

    torch.manual_seed(0)
    bb = SwinBackbone(model_options={"embed_dim": 16, "depths": (1, 1, 1, 1), "num_heads": (1, 1, 2, 2)})
    net = create_segmenter("mask2former", num_masks=3, backbone=bb, **TINY).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 50, 70)).logits.shape == (1, 3, 50, 70)


def test_extra_upsampling_doubles_resolution_per_step():
    torch.manual_seed(0)
    feats = {
        "res2": torch.rand(1, 8, 12, 16),
        "res3": torch.rand(1, 8, 6, 8),
        "res4": torch.rand(1, 8, 3, 4),
        "res5": torch.rand(1, 8, 2, 2),
    }
    channels = dict.fromkeys(feats, 8)
    strides = {"res2": 4, "res3": 8, "res4": 16, "res5": 32}
    for steps in range(3):
        dec = PixelDecoder(channels, strides, conv_dim=16, mask_dim=12, extra_upsampling=steps)
        mask_features, levels = dec(feats)
        assert mask_features.shape == (1, 12, 12 * 2**steps, 16 * 2**steps)
        assert [tuple(v.shape[-2:]) for v in levels] == [(2, 2), (3, 4), (6, 8), (12, 16)]
    # GWM's layout: [Conv3x3, UpsampleNN(2), Conv1x1] x 2, then the 3x3 mask-feature conv
    kinds = [
        type(m[0]).__name__ + str(m[0].kernel_size)
        if isinstance(m, torch.nn.Sequential)
        else type(m).__name__
        for m in dec.upsample
    ]
    assert kinds == ["Conv2d(3, 3)", "Upsample", "Conv2d(1, 1)"] * 2
    assert all(m.mode == "nearest" for m in dec.upsample if isinstance(m, torch.nn.Upsample))


def test_segmenter_extra_upsampling_sets_mask_feature_stride():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 48)
    for steps in (0, 1, 2):
        net = _tiny("query", extra_upsampling=steps).eval()
        with torch.no_grad():
            mf, _ = net.pixel_decoder(net.backbone(x))
            out = net(x)
        assert mf.shape[-2:] == (16 * 2**steps, 24 * 2**steps)  # sacnn maps at stride 2
        assert out.logits.shape[-2:] == (32, 48)  # resized to the input (down for steps=2)


def test_pixel_decoder_fuses_same_stride_maps():
    """A ViT-like backbone (every map at one stride): no upsampling, and every map reaches the output."""
    torch.manual_seed(0)
    names = ("res2", "res3", "res4", "res5")
    feats = {n: torch.rand(1, 8, 10, 14) for n in names}
    dec = PixelDecoder(dict.fromkeys(names, 8), dict.fromkeys(names, 4), conv_dim=16, mask_dim=16).eval()
    assert dec.names == ["res5", "res4", "res3", "res2"]  # same stride: by name, res5 is the "coarsest"
    with torch.no_grad():
        base, levels = dec(feats)
        assert base.shape == (1, 16, 10, 14) and all(v.shape == (1, 16, 10, 14) for v in levels)
        for n in names:
            changed = dict(feats)
            changed[n] = feats[n] + 1.0
            assert not torch.allclose(dec(changed)[0], base), n


def test_attention_mask_construction():
    b, k, heads = 2, 3, 4
    logits = torch.full((b, k, 4, 6), -5.0)
    logits[0, 0, :, :3] = 5.0  # query 0 of image 0: the left half
    logits[0, 1, 1, 1] = 5.0  # query 1 of image 0: one position
    # query 2 of image 0: nothing -> fallback (attend everywhere)
    logits[1] = 5.0  # image 1: everything on
    mask = attention_mask_from_logits(logits, (4, 6), heads)
    assert mask.shape == (b * heads, k, 24) and mask.dtype == torch.bool
    left = torch.zeros(4, 6, dtype=torch.bool)
    left[:, :3] = True
    one = torch.zeros(4, 6, dtype=torch.bool)
    one[1, 1] = True
    for h in range(heads):  # batch-major repetition: row b * heads + h belongs to image b
        assert torch.equal(mask[h, 0], ~left.flatten())
        assert torch.equal(mask[h, 1], ~one.flatten())
        assert not mask[h, 2].any()  # the fully masked row is left unmasked
        assert not mask[heads + h].any()
    # at a coarser memory level the logits are resized bilinearly first
    coarse = attention_mask_from_logits(logits, (2, 3), heads)
    assert coarse.shape == (b * heads, k, 6)
    assert torch.equal(coarse[0, 0].view(2, 3), torch.tensor([[False, True, True], [False, True, True]]))
    # the threshold is on the probability
    half = attention_mask_from_logits(torch.zeros(1, 1, 2, 2) + 0.1, (2, 2), 1, threshold=0.6)
    assert not half.any()  # all below 0.6 -> fully masked -> fallback


def test_masked_cross_attention_ignores_blocked_memory():
    torch.manual_seed(0)
    layer = DecoderLayer(16, 4, 32, dropout=0.0, cross_first=True).eval()
    q, qpos = torch.randn(1, 2, 16), torch.randn(1, 2, 16)
    mem, pos = torch.randn(1, 10, 16), torch.randn(1, 10, 16)
    blocked = torch.zeros(1, 2, 10, dtype=torch.bool)
    blocked[0, 0, 5:] = True  # query 0 sees positions 0..4 only
    blocked = blocked.repeat_interleave(4, dim=0)
    poked = mem.clone()
    poked[0, 7] += 3.0  # change a position query 0 cannot see
    with torch.no_grad():
        base = layer(q, qpos, mem, pos, blocked)
        after = layer(q, qpos, poked, pos, blocked)
        unmasked = layer(q, qpos, mem, pos, None)
        unmasked_after = layer(q, qpos, poked, pos, None)
    # self-attention mixes queries after the cross-attention, so compare the cross-attention itself
    with torch.no_grad():
        ca = layer.cross_attn(q, mem, qpos, pos, blocked)
        ca_poked = layer.cross_attn(q, poked, qpos, pos, blocked)
    torch.testing.assert_close(ca[0, 0], ca_poked[0, 0])  # query 0 unaffected
    assert not torch.allclose(ca[0, 1], ca_poked[0, 1])  # query 1 sees everything
    assert not torch.allclose(base, unmasked)  # the mask changes the layer's output
    assert not torch.allclose(unmasked, unmasked_after) and not torch.allclose(base, after)


def test_masked_attention_changes_the_output():
    torch.manual_seed(0)
    net = _tiny("mask2former", num_masks=4).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        on = net(x).logits
        # the masks are not trivial: the initial prediction blocks some positions
        first = net._predict(net.query_feat.weight[None], net.pixel_decoder(net.backbone(x))[0])[1]
        m = attention_mask_from_logits(first, (16, 16), net.heads)
        assert m.any() and not m.all()
        net.masked_attention = False
        off = net(x).logits
    assert not torch.allclose(on, off)


def test_memory_choice_by_form():
    mf = _tiny("query")
    assert mf.memory == "backbone" and mf.memory_names == ["res5"]
    m2 = _tiny("mask2former")
    assert m2.memory == "pixel_decoder" and m2.memory_names == ["res5", "res4", "res3"]
    r18 = create_segmenter("mask2former", backbone="resnet18", **TINY)
    assert r18.memory_names == ["res5", "res4", "res3"]  # 1/32, 1/16, 1/8 as Mask2Former
    with pytest.raises(ConfigError, match="memory_levels"):
        _tiny("query", memory_levels=5)


def test_sine_position_encoding_closed_form():
    h, w, dim = 3, 5, 8
    pos = sine_position_encoding(h, w, dim)
    assert pos.shape == (h * w, dim)
    n = dim // 4
    freq = 10000.0 ** (-torch.arange(n) / n)
    y, x = 2, 4  # row 2 (1-based 3), column 4 (1-based 5)
    ey, ex = 3 / h * 2 * math.pi, 5 / w * 2 * math.pi
    want = torch.cat([torch.sin(ey * freq), torch.cos(ey * freq), torch.sin(ex * freq), torch.cos(ex * freq)])
    torch.testing.assert_close(pos[y * w + x], want)
    assert torch.unique(pos, dim=0).shape[0] == h * w
    with pytest.raises(ConfigError):
        sine_position_encoding(2, 2, 6)


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="multiple of heads"):
        _tiny("query", hidden_dim=30, heads=4)
    with pytest.raises(ConfigError, match="backbone_options"):
        create_segmenter("query", backbone=create_backbone("sacnn"), backbone_options={"stride": 1}, **TINY)
    net = _tiny("query")
    with pytest.raises(ShapeError, match=r"\(B, 3, H, W\)"):
        net(torch.rand(3, 32, 32))


def test_cli_strings_are_coerced():
    net = create_segmenter(
        "query",
        num_masks="3",
        backbone="sacnn",
        hidden_dim="32",
        dec_layers="1",
        heads="4",
        ffn_dim="16",
        conv_dim="16",
        mask_dim="16",
        masked_attention="true",
        dropout="0",
    )
    assert net.num_masks == 3 and len(net.layers) == 1 and net.masked_attention


def test_weights_round_trip_and_mismatch(tmp_path):
    torch.manual_seed(0)
    a = _tiny("mask2former", num_masks=3).eval()
    path = tmp_path / "m2f.pt"
    torch.save(a.state_dict(), path)
    torch.manual_seed(1)
    b = _tiny("mask2former", num_masks=3, pretrained=str(path)).eval()
    x = torch.rand(1, 3, 30, 34)
    with torch.no_grad():
        torch.testing.assert_close(b(x).logits, a(x).logits)
    with pytest.raises(ShapeError, match=r"query_embed\.weight.*\(3, 32\).*\(5, 32\)"):
        _tiny("mask2former", num_masks=5, pretrained=str(path))


def test_backbone_instance_is_used_as_given():
    bb = create_backbone("sacnn", **SACNN)
    net = QuerySegmenter(bb, num_masks=2, **TINY)
    assert net.backbone is bb
