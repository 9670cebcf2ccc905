"""Flow arrows and flow GIFs: pixels where the arrows are, files that read back."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from spelke.errors import ShapeError
from spelke.viz import flow_to_color
from spelke.viz.motion import flow_arrows, flow_panels, write_flow_arrows, write_flow_gif


def test_arrows_are_drawn_along_the_flow():
    image = np.full((3, 40, 60), 0.5, np.float32)
    flow = np.zeros((2, 40, 60), np.float32)
    flow[0] = 6.0  # everything moves 6 px right
    out = flow_arrows(image, flow, step=20, scale=1.0, color=(255, 0, 0))
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    red = (out[..., 0] > 200) & (out[..., 1] < 80)
    # arrows start at (10, 10), (30, 10), (50, 10), ... and run right along their rows
    assert red[10, 11:16].all() and red[30, 31:36].all()
    assert not red[20:22, :].any()  # nothing between the rows
    # far from any arrow the image is untouched
    assert (out[0:4, 0:4] == 128).all()


def test_auto_scale_and_direction_colours():
    image = np.zeros((3, 32, 32), np.float32)
    flow = np.zeros((2, 32, 32), np.float32)
    flow[1] = 0.2  # tiny downward motion, scaled up to be visible
    out = flow_arrows(image, flow, step=16)
    colour = flow_to_color(flow)[8, 8]
    assert (np.abs(out[8:20, 8].astype(int) - colour.astype(int)).sum(1) < 60).sum() >= 8
    with pytest.raises(ShapeError, match=r"\(2, 16, 16\)"):
        flow_arrows(image, np.zeros((2, 16, 16), np.float32))


def test_write_arrows_png_and_gif(tmp_path, textured_video):
    write_flow_arrows(tmp_path / "a.png", textured_video.images[0], textured_video.flow(0, 1))
    assert Image.open(tmp_path / "a.png").size == (96, 64)
    flows = textured_video.flows(1)
    panels = flow_panels(textured_video.images, flows)
    assert len(panels) == len(textured_video) - 1
    h, w = panels[0].shape[:2]
    assert w > 2 * 96 and h > 64  # frame and flow side by side, with titles
    write_flow_gif(tmp_path / "f.gif", textured_video.images, flows, fps=5)
    gif = Image.open(tmp_path / "f.gif")
    assert gif.size == (w, h) and gif.n_frames == len(textured_video) - 1
    with pytest.raises(ShapeError):
        flow_panels(textured_video.images[:2], flows)
