"""Flow backends: the registry, input handling, and accuracy of the OpenCV backends on exact flow."""

from __future__ import annotations

import numpy as np
import pytest

from spelke.errors import ConfigError, NotRegisteredError, ShapeError
from spelke.motion import (
    FlowBackend,
    as_rgb_frame,
    create_flow_backend,
    end_point_error,
    list_flow_backends,
)


def _mean_epe(backend, textured_video, valid_only=True):
    errs = []
    for t in range(len(textured_video) - 1):
        f = backend(textured_video.images[t], textured_video.images[t + 1])
        assert f.shape == (2, *textured_video.size) and f.dtype == np.float32
        errs.append(
            end_point_error(
                f, textured_video.flow(t, t + 1), textured_video.valid(t, t + 1) if valid_only else None
            )
        )
    return float(np.mean(errs))


def test_registry_lists_and_suggests():
    assert list_flow_backends() == ["dis", "farneback", "raft-large", "raft-small"]
    assert list_flow_backends("raft*") == ["raft-large", "raft-small"]
    with pytest.raises(NotRegisteredError, match="did you mean 'dis'"):
        create_flow_backend("dsi")


def test_unknown_option_names_the_accepted_ones():
    with pytest.raises(ConfigError, match=r"no option 'presett'.*preset"):
        create_flow_backend("dis", presett="fast")
    with pytest.raises(ConfigError, match="ultrafast, fast, medium"):
        create_flow_backend("dis", preset="slow")
    with pytest.raises(ConfigError, match="integer"):
        create_flow_backend("farneback", levels="three")


def test_string_options_are_converted_and_recorded():
    b = create_flow_backend("dis", preset="fast", patch_size="12", use_spatial_propagation="false")
    assert isinstance(b, FlowBackend) and b.name == "dis"
    assert b.options["preset"] == "fast" and b.options["patch_size"] == 12
    assert b.options["use_spatial_propagation"] is False
    assert b.version.startswith("opencv-")
    assert b.describe() == {"backend": "dis", "version": b.version, "options": b.options}
    f = create_flow_backend("farneback", winsize="21", gaussian="true")
    assert f.options["winsize"] == 21 and f.options["gaussian"] is True


# Thresholds: measured mean EPE (pixels, over non-occluded pixels of the 5 forward pairs of the
# fixture) with margin: medium 0.21, fast 0.35, ultrafast 0.39, Farneback 0.26 (OpenCV 5.0).
@pytest.mark.parametrize(
    ("name", "options", "limit"),
    [
        ("dis", {"preset": "medium"}, 0.3),
        ("dis", {"preset": "fast"}, 0.45),
        ("dis", {"preset": "ultrafast"}, 0.5),
        ("farneback", {}, 0.35),
    ],
)
def test_opencv_backends_are_accurate_on_the_fixture(textured_video, name, options, limit):
    backend = create_flow_backend(name, **options)
    epe = _mean_epe(backend, textured_video)
    assert epe < limit, epe
    # on the moving objects (1 to 2.5 px/frame) it is far better than no motion at all (measured: at
    # most half of the zero-flow error, for DIS fast)
    est, zero = [], []
    for t in range(len(textured_video) - 1):
        m = textured_video.valid(t, t + 1) & (textured_video.labels[t] > 0)
        g = textured_video.flow(t, t + 1)
        est.append(end_point_error(backend(textured_video.images[t], textured_video.images[t + 1]), g, m))
        zero.append(end_point_error(np.zeros_like(g), g, m))
    assert np.mean(est) < 0.65 * np.mean(zero), (np.mean(est), np.mean(zero))


def test_dis_medium_beats_ultrafast(textured_video):
    assert _mean_epe(create_flow_backend("dis"), textured_video) < _mean_epe(
        create_flow_backend("dis", preset="ultrafast"), textured_video
    )


def test_backward_flow(textured_video):
    dis = create_flow_backend("dis")
    f = dis(textured_video.images[3], textured_video.images[2])
    assert end_point_error(f, textured_video.flow(3, 2), textured_video.valid(3, 2)) < 0.3


def test_uint8_hwc_input_gives_the_same_flow(textured_video):
    dis = create_flow_backend("dis")
    a8 = np.round(textured_video.images[0] * 255).astype(np.uint8).transpose(1, 2, 0)
    b8 = np.round(textured_video.images[1] * 255).astype(np.uint8).transpose(1, 2, 0)
    a = a8.transpose(2, 0, 1).astype(np.float32) / 255
    b = b8.transpose(2, 0, 1).astype(np.float32) / 255
    np.testing.assert_array_equal(dis(a8, b8), dis(a, b))
    np.testing.assert_array_equal(dis(a8.transpose(2, 0, 1), b8.transpose(2, 0, 1)), dis(a, b))


def test_batch_equals_single_calls(textured_video):
    for name in ("dis", "farneback"):
        b = create_flow_backend(name)
        out = b.batch(textured_video.images[:3], textured_video.images[1:4])
        assert out.shape == (3, 2, *textured_video.size)
        for i in range(3):
            np.testing.assert_array_equal(out[i], b(textured_video.images[i], textured_video.images[i + 1]))


def test_input_errors_name_both_shapes():
    dis = create_flow_backend("dis", preset="ultrafast")
    a = np.zeros((3, 32, 48), np.float32)
    with pytest.raises(ShapeError, match=r"frame0 \(3, 32, 48\) and frame1 \(3, 32, 40\)"):
        dis(a, np.zeros((3, 32, 40), np.float32))
    with pytest.raises(ShapeError, match="move the channel axis first"):
        dis(a.transpose(1, 2, 0), a.transpose(1, 2, 0))
    with pytest.raises(ShapeError, match=r"divide 0\.\.255"):
        dis(a + 200, a)
    with pytest.raises(ShapeError, match="dtype int64"):
        as_rgb_frame(np.zeros((3, 4, 4), np.int64))
    with pytest.raises(ShapeError, match="as many"):
        dis.batch([a, a], [a])
    with pytest.raises(ShapeError, match="share a size"):
        dis.batch([a, np.zeros((3, 16, 16), np.float32)], [a, np.zeros((3, 16, 16), np.float32)])
