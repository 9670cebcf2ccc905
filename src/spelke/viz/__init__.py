"""Pictures of segmentations: palettes, overlays, flow colours, grids, GIF/MP4 and HTML reports.

Everything returns or writes (H, W, 3) uint8 RGB and accepts spelke's (3, H, W) float images as well as
(H, W, 3) uint8 (see :func:`to_uint8`). Files are written atomically.

Examples:
    >>> import numpy as np
    >>> from spelke.viz import overlay, flow_to_color, side_by_side
    >>> image = np.full((3, 32, 32), 0.5)
    >>> labels = np.zeros((32, 32), dtype=np.int64); labels[8:24, 8:24] = 1
    >>> flow = np.zeros((2, 32, 32)); flow[0, labels == 1] = 2.0
    >>> side_by_side(overlay(image, labels), flow_to_color(flow)).shape
    (36, 70, 3)
"""

from spelke.viz._image import to_uint8
from spelke.viz.flow import color_wheel, flow_to_color, flow_wheel
from spelke.viz.grid import image_grid, side_by_side
from spelke.viz.html import HtmlReport, format_cell
from spelke.viz.overlay import contour_mask, overlay, overlay_binary, soft_overlay
from spelke.viz.palette import MAX_COLORS, colorize, palette
from spelke.viz.video import gif_bytes, write_gif, write_mp4

__all__ = [
    "MAX_COLORS",
    "HtmlReport",
    "color_wheel",
    "colorize",
    "contour_mask",
    "flow_to_color",
    "flow_wheel",
    "format_cell",
    "gif_bytes",
    "image_grid",
    "overlay",
    "overlay_binary",
    "palette",
    "side_by_side",
    "soft_overlay",
    "to_uint8",
    "write_gif",
    "write_mp4",
]
