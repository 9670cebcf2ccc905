"""Backbones of spelke.models.backbones.cnn: ResNet, Swin-tiny, sacnn (shapes, gradients, local weights)."""

from __future__ import annotations

import math
import socket

import pytest
import torch
import torch.nn.functional as F

from spelke.errors import DataLayoutError, FileFormatError, ShapeError
from spelke.models.backbones import create_backbone, list_backbones

SIZES = [(48, 64), (50, 70), (96, 96)]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Building backbones, with or without a weights file, never opens a connection."""

    def refuse(*args, **kwargs):
        raise AssertionError("a backbone tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_registry_lists_the_cnn_backbones():
    names = list_backbones()
    for name in ("resnet18", "resnet34", "resnet50", "swin-tiny", "sacnn"):
        assert name in names
    assert "swin-tiny" in list_backbones("swin*")


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_maps_strides_and_channels(name):
    torch.manual_seed(0)
    net = create_backbone(name).eval()
    want = {"resnet18": (64, 128, 256, 512), "resnet50": (256, 512, 1024, 2048)}[name]
    assert net.out_channels == dict(zip(("res2", "res3", "res4", "res5"), want, strict=True))
    assert net.out_strides == {"res2": 4, "res3": 8, "res4": 16, "res5": 32}
    with torch.no_grad():
        for h, w in SIZES:
            out = net(torch.rand(2, 3, h, w))
            for k, c in net.out_channels.items():
                s = net.out_strides[k]
                assert out[k].shape == (2, c, math.ceil(h / s), math.ceil(w / s))


def _tiny_swin_options():
    # the Swin-tiny structure at a fraction of its width and depth (building Swin-tiny takes seconds)
    return {"embed_dim": 16, "depths": (1, 1, 1, 1), "num_heads": (1, 1, 2, 2)}


def _tiny_swin(**kwargs):
    from spelke.models.backbones.cnn import SwinBackbone

    return SwinBackbone("swin_tiny_patch4_window7_224", model_options=_tiny_swin_options(), **kwargs)


def test_swin_tiny_at_128_and_96():
    torch.manual_seed(0)
    net = create_backbone("swin-tiny").eval()
    assert net.out_channels == {"res2": 96, "res3": 192, "res4": 384, "res5": 768}
    assert net.out_strides == {"res2": 4, "res3": 8, "res4": 16, "res5": 32}
    with torch.no_grad():
        for size in (128, 96):
            out = net(torch.rand(1, 3, size, size))
            assert {k: v.shape[-1] for k, v in out.items()} == {
                k: math.ceil(size / s) for k, s in net.out_strides.items()
            }


def test_swin_any_size():
    torch.manual_seed(0)
    net = _tiny_swin().eval()
    with torch.no_grad():
        for h, w in [*SIZES, (37, 29)]:
            out = net(torch.rand(1, 3, h, w))
            for k, c in net.out_channels.items():
                s = net.out_strides[k]
                assert out[k].shape == (1, c, math.ceil(h / s), math.ceil(w / s)), (k, h, w)
                assert torch.isfinite(out[k]).all()


def test_sacnn_layout_and_options():
    torch.manual_seed(0)
    net = create_backbone("sacnn").eval()
    assert net.out_channels == {"res2": 32, "res3": 32, "res4": 64, "res5": 64}
    assert set(net.out_strides.values()) == {2}
    # 6 layers with weights: 4 convolutions (5x5) + 2 per-position MLP layers (1x1)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m is not net.pos.proj]
    assert [m.kernel_size for m in convs] == [(5, 5)] * 4 + [(1, 1)] * 2
    with torch.no_grad():
        for h, w in SIZES:
            out = net(torch.rand(2, 3, h, w))
            for k, c in net.out_channels.items():
                assert out[k].shape == (2, c, math.ceil(h / 2), math.ceil(w / 2))
    # Slot Attention's original: stride 1, 64 channels, LayerNorm over channels
    sa = create_backbone("sacnn", stride="1", channels=64, norm="channels").eval()
    with torch.no_grad():
        out = sa(torch.rand(1, 3, 50, 70))
    assert out["res3"].shape == (1, 64, 50, 70) and out["res5"].shape == (1, 64, 50, 70)


def test_sacnn_chw_norm_has_ppmp_statistics():
    """norm='chw' normalises over (C, H, W) like PPMP's LayerNorm([C, H, W]) (at the initial affine)."""
    torch.manual_seed(0)
    net = create_backbone("sacnn").eval()
    x = torch.rand(2, 3, 40, 36)
    with torch.no_grad():
        res3 = net(x)["res3"]
        y = net.pos(res3)
        ours = net.norm(y)
        ref = F.layer_norm(y, y.shape[1:], eps=net.norm.eps)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-4)


def test_sacnn_position_embedding_distinguishes_positions():
    torch.manual_seed(0)
    net = create_backbone("sacnn").eval()
    with torch.no_grad():
        out = net(torch.full((1, 3, 64, 64), 0.5))["res5"][0]  # a constant image, maps 32x32
    # away from the zero padding (7 px of the 4 convolutions), a constant image gives constant conv
    # features: only the position embedding varies
    inner = out[:, 8:-8, 8:-8].flatten(1)
    assert (inner.std(dim=1) > 1e-4).any()


@pytest.mark.parametrize("name,first", [("resnet18", "conv1"), ("sacnn", "stage1.0.0"), ("swin-tiny", None)])
def test_gradients_reach_the_first_layer(name, first):
    torch.manual_seed(0)
    net = _tiny_swin() if first is None else create_backbone(name)
    out = net(torch.rand(2, 3, 48, 64))
    sum(v.square().mean() for v in out.values()).backward()
    first_param = net.model.patch_embed.proj.weight if first is None else net.get_submodule(first).weight
    assert first_param.grad is not None and first_param.grad.abs().sum() > 0
    assert all(p.grad is not None for p in net.parameters()), "every parameter is used"


def test_resnet_loads_torchvision_file(tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(1)
    ref = resnet18(weights=None).eval()
    path = tmp_path / "resnet18.pth"
    torch.save(ref.state_dict(), path)  # torchvision format, fc.* included
    net = create_backbone("resnet18", pretrained=str(path)).eval()
    torch.testing.assert_close(net.conv1.weight, ref.conv1.weight)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        xn = net.prepare(x)
        want = ref.layer4(ref.layer3(ref.layer2(ref.layer1(ref.maxpool(ref.relu(ref.bn1(ref.conv1(xn))))))))
        torch.testing.assert_close(net(x)["res5"], want)


def test_resnet_weight_mismatch_names_both_shapes(tmp_path):
    from torchvision.models import resnet18

    state = resnet18(weights=None).state_dict()
    state["conv1.weight"] = torch.zeros(32, 3, 7, 7)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ShapeError, match=r"conv1\.weight.*\(32, 3, 7, 7\).*\(64, 3, 7, 7\)"):
        create_backbone("resnet18", pretrained=str(path))


def test_wrong_architecture_and_missing_file_are_refused(tmp_path):
    from torchvision.models import resnet18

    path = tmp_path / "r18.pth"
    torch.save(resnet18(weights=None).state_dict(), path)
    with pytest.raises(FileFormatError, match="lack"):
        create_backbone("resnet34", pretrained=str(path))  # resnet34 has more blocks
    with pytest.raises(DataLayoutError, match="does not exist"):
        create_backbone("resnet18", pretrained=str(tmp_path / "nope.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(FileFormatError, match="cannot read"):
        create_backbone("resnet18", pretrained=str(tmp_path / "junk.pth"))


def test_sacnn_round_trip_and_mismatch(tmp_path):
    torch.manual_seed(0)
    a = create_backbone("sacnn").eval()
    path = tmp_path / "sacnn.pt"
    torch.save({"state_dict": a.state_dict()}, path)  # a wrapped checkpoint is unwrapped
    torch.manual_seed(1)
    b = create_backbone("sacnn", pretrained=str(path)).eval()
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        torch.testing.assert_close(b(x)["res5"], a(x)["res5"])
    with pytest.raises(ShapeError, match=r"\(32, 3, 5, 5\).*\(16, 3, 5, 5\)"):
        create_backbone("sacnn", channels=16, pretrained=str(path))


def test_swin_loads_a_timm_file_and_its_own_state(tmp_path):
    import timm

    from spelke.models.backbones.cnn import SwinBackbone

    name, opts = "swin_tiny_patch4_window7_224", _tiny_swin_options()
    torch.manual_seed(0)
    ref = timm.create_model(name, pretrained=False, **opts)  # timm's format, with norm.* and head.*
    path = tmp_path / "swin_timm.pth"
    torch.save(ref.state_dict(), path)
    net = _tiny_swin(pretrained=path).eval()
    torch.testing.assert_close(net.model.patch_embed.proj.weight, ref.patch_embed.proj.weight)
    own = tmp_path / "swin_own.pth"
    torch.save(net.state_dict(), own)
    again = _tiny_swin(pretrained=own).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(again(x)["res5"], net(x)["res5"])
    wider = {**opts, "embed_dim": 32, "num_heads": (1, 1, 2, 4)}
    with pytest.raises(ShapeError, match=r"in the file but"):
        SwinBackbone(name, pretrained=own, model_options=wider)
