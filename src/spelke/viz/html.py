"""A small self-contained HTML report: headings, text, tables and embedded images and GIFs.

Everything is inlined (CSS in a ``<style>`` element, pictures as base64 ``data:`` URIs), so a report is
one file that can be mailed, attached to an issue or opened offline. All text is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from spelke.data.io import atomic_path
from spelke.viz._image import to_uint8
from spelke.viz.video import gif_bytes

__all__ = ["HtmlReport", "format_cell", "svg_line_chart"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.3em; margin-top: 1.6em; }
h3 { font-size: 1.1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .92em; }
caption { caption-side: top; text-align: left; color: #555; padding-bottom: .3em; }
th, td { border: 1px solid #ddd; padding: .3em .7em; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
figure { display: inline-block; margin: .5em 1em .5em 0; vertical-align: top; }
figure img { display: block; max-width: 100%; image-rendering: pixelated; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; margin-top: .3em; }
""".strip()

_MIME = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
    b"\xff\xd8\xff": "image/jpeg",
}


def format_cell(value: object) -> str:
    """Format a table value: reals to 4 significant digits, integers and text as they are.

    ``None`` becomes an empty cell; booleans print as ``True``/``False``; NaN as ``nan``.

    Examples:
        >>> format_cell(3.14159), format_cell(12345.678), format_cell(7), format_cell(np.float32(0.5))
        ('3.142', '1.235e+04', '7', '0.5')
    """
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        x = float(value)
        return "nan" if math.isnan(x) else f"{x:.4g}"
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _png_bytes(array: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(to_uint8(array)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _data_uri(data: bytes) -> str:
    mime = next((m for magic, m in _MIME.items() if data.startswith(magic)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        raise ValueError("unsupported image file: expected PNG, GIF, JPEG or WebP bytes")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class HtmlReport:
    """Build a one-file HTML report piece by piece.

    Methods append to the report in call order and return the report, so calls chain.

    Args:
        title: page title, also shown as the top heading.

    Examples:
        >>> report = HtmlReport("run 3").heading("Scores").table([{"method": "gwm", "mIoU": 0.71234}])
        >>> "<td class=\\"num\\">0.7123</td>" in report.to_html()
        True
    """

    def __init__(self, title: str) -> None:
        self.title = str(title)
        self._parts: list[str] = []

    def heading(self, text: str, level: int = 2) -> HtmlReport:
        """Add a section heading (``level`` 2 to 6; the title is the only level-1 heading)."""
        if not 2 <= level <= 6:
            raise ValueError(f"heading level must be 2..6, got {level}")
        self._parts.append(f"<h{level}>{html.escape(str(text))}</h{level}>")
        return self

    def paragraph(self, text: str) -> HtmlReport:
        """Add a paragraph of plain text (escaped; line breaks are kept)."""
        body = html.escape(str(text)).replace("\n", "<br>\n")
        self._parts.append(f"<p>{body}</p>")
        return self

    def table(self, rows: Sequence[Mapping[str, object]], caption: str | None = None) -> HtmlReport:
        """Add a table with one row per mapping.

        Columns are the keys in order of first appearance; a key a row lacks leaves an empty cell.
        Reals are printed to 4 significant digits (see :func:`format_cell`) and right-aligned.

        Args:
            rows: the rows, e.g. ``[{"sequence": "bear", "J": 0.91}, ...]``.
            caption: optional caption above the table.
        """
        columns: list[str] = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
        out = ["<table>"]
        if caption:
            out.append(f"<caption>{html.escape(str(caption))}</caption>")
        out.append(
            "<thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in columns) + "</tr></thead>"
        )
        out.append("<tbody>")
        for row in rows:
            cells = []
            for c in columns:
                v = row.get(c)
                cls = ' class="num"' if _is_number(v) else ""
                cells.append(f"<td{cls}>{html.escape(format_cell(v))}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
        self._parts.append("\n".join(out))
        return self

    def _figure(self, data: bytes, caption: str | None) -> HtmlReport:
        alt = html.escape(str(caption), quote=True) if caption else ""
        parts = [f'<figure><img src="{_data_uri(data)}" alt="{alt}">']
        if caption:
            parts.append(f"<figcaption>{html.escape(str(caption))}</figcaption>")
        parts.append("</figure>")
        self._parts.append("".join(parts))
        return self

    def image(self, array_or_path: object, caption: str | None = None) -> HtmlReport:
        """Embed a picture.

        Args:
            array_or_path: an image array (any layout :func:`to_uint8` reads), embedded as PNG; or the
                path of a PNG, GIF, JPEG or WebP file, whose bytes are embedded unchanged.
            caption: optional caption under the picture.
        """
        if isinstance(array_or_path, str | os.PathLike):
            data = Path(array_or_path).read_bytes()
        else:
            data = _png_bytes(array_or_path)
        return self._figure(data, caption)

    def gif(self, frames: Sequence[object], fps: float = 8, caption: str | None = None) -> HtmlReport:
        """Embed frames as an animated GIF (see :func:`spelke.viz.write_gif`)."""
        return self._figure(gif_bytes(frames, fps=fps), caption)

    def line_chart(
        self,
        series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
        *,
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
        log_y: bool = False,
        width: int = 520,
        height: int = 260,
    ) -> HtmlReport:
        """Embed a line chart (inline SVG) of named ``(x, y)`` series, e.g. training curves.

        Non-finite points are skipped; with ``log_y`` non-positive values are skipped and the y axis is
        logarithmic. The legend lists the series in the given order.
        """
        self._parts.append(
            svg_line_chart(
                series, title=title, xlabel=xlabel, ylabel=ylabel, log_y=log_y, width=width, height=height
            )
        )
        return self

    def to_html(self) -> str:
        """Return the whole document as a string."""
        title = html.escape(self.title)
        body = "\n".join(self._parts)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{title}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n"
            f"<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the report to ``path`` (UTF-8), atomically, and return the path."""
        with atomic_path(path) as tmp:
            tmp.write_text(self.to_html(), encoding="utf-8")
        return Path(path)


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def svg_line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    log_y: bool = False,
    width: int = 520,
    height: int = 260,
) -> str:
    """An SVG ``<figure>`` with one polyline per series, axes with min/max ticks and a legend.

    Examples:
        >>> svg = svg_line_chart({"loss": ([0, 1, 2], [3.0, 2.0, 1.5])}, title="training")
        >>> svg.startswith("<figure>") and "<polyline" in svg and "loss" in svg
        True
    """
    pts: dict[str, list[tuple[float, float]]] = {}
    for name, (xs, ys) in series.items():
        keep = []
        for x, y in zip(xs, ys, strict=False):
            x, y = float(x), float(y)
            if not (math.isfinite(x) and math.isfinite(y)) or (log_y and y <= 0):
                continue
            keep.append((x, math.log10(y) if log_y else y))
        if keep:
            pts[str(name)] = keep
    left, right, top, bottom = 62, 12, 26 if title else 10, 38
    pw, ph = width - left - right, height - top - bottom
    out = [
        f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">'
    ]
    if title:
        out.append(
            f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{html.escape(title)}</text>'
        )
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    if pts:
        allx = [p[0] for v in pts.values() for p in v]
        ally = [p[1] for v in pts.values() for p in v]
        x0, x1 = min(allx), max(allx)
        y0, y1 = min(ally), max(ally)
        x1 = x1 if x1 > x0 else x0 + 1
        pad = 0.05 * (y1 - y0) if y1 > y0 else 0.5
        y0, y1 = y0 - pad, y1 + pad

        def sx(x: float) -> float:
            return left + (x - x0) / (x1 - x0) * pw

        def sy(y: float) -> float:
            return top + ph - (y - y0) / (y1 - y0) * ph

        def ylab(y: float) -> str:
            return format_cell(10**y if log_y else y)

        for y in (y0 + pad, y1 - pad):
            out.append(f'<text x="{left - 4}" y="{sy(y) + 4:.1f}" text-anchor="end">{ylab(y)}</text>')
        for x in (x0, x1):
            out.append(
                f'<text x="{sx(x):.1f}" y="{top + ph + 14}" text-anchor="middle">{format_cell(x)}</text>'
            )
        for i, (name, v) in enumerate(pts.items()):
            c = _COLOURS[i % len(_COLOURS)]
            line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in v)
            out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{line}"/>')
            ly = top + 12 + 14 * i
            out.append(
                f'<line x1="{left + 8}" y1="{ly - 4}" x2="{left + 24}" y2="{ly - 4}" stroke="{c}" stroke-width="2"/>'
            )
            out.append(f'<text x="{left + 28}" y="{ly}">{html.escape(name)}</text>')
    if xlabel:
        out.append(
            f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">{html.escape(xlabel)}</text>'
        )
    if ylabel:
        yl = html.escape(ylabel + (" (log scale)" if log_y else ""))
        out.append(
            f'<text x="12" y="{top + ph / 2}" text-anchor="middle" transform="rotate(-90 12 {top + ph / 2})">{yl}</text>'
        )
    out.append("</svg></figure>")
    return "".join(out)
