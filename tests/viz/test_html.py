"""HTML report: self-contained, escaped, numbers formatted."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
from PIL import Image

from spelke.viz import HtmlReport, format_cell, write_gif


def _images(doc: str) -> list[bytes]:
    srcs = re.findall(r'<img src="([^"]*)"', doc)
    out = []
    for s in srcs:
        assert s.startswith("data:image/")
        out.append(base64.b64decode(s.split(",", 1)[1]))
    return out


def test_self_contained_report(tmp_path, rng):
    gif_path = tmp_path / "clip.gif"
    frames = [rng.integers(0, 256, (8, 10, 3), dtype=np.uint8) for _ in range(3)]
    write_gif(gif_path, frames)
    report = (
        HtmlReport("run")
        .heading("Images")
        .image(rng.random((3, 12, 16)), caption="array")
        .image(gif_path, caption="file")
        .gif(frames, fps=4, caption="frames")
    )
    path = report.save(tmp_path / "out" / "report.html")
    doc = path.read_text(encoding="utf-8")
    assert 'src="http' not in doc and "href=" not in doc and "<link" not in doc
    assert "<style>" in doc and doc.startswith("<!DOCTYPE html>")
    blobs = _images(doc)
    assert len(blobs) == 3
    with Image.open(io.BytesIO(blobs[0])) as im:
        assert im.format == "PNG" and im.size == (16, 12)
    assert blobs[1] == gif_path.read_bytes()
    with Image.open(io.BytesIO(blobs[2])) as im:
        assert im.format == "GIF" and im.n_frames == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html"]


def test_text_is_escaped():
    evil = '<script>alert("x")</script>'
    doc = (
        HtmlReport(evil)
        .heading(evil)
        .paragraph(evil)
        .table([{evil: evil}], caption=evil)
        .image(np.zeros((2, 2, 3), np.uint8), caption=evil)
        .to_html()
    )
    assert "<script>" not in doc
    # title x2, heading, paragraph, table caption, th, td, img alt, figcaption
    assert doc.count("&lt;script&gt;") == 9
    assert 'alt="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"' in doc


def test_table_formatting():
    rows = [{"seq": "bear", "J": 0.912345, "n": 12345678}, {"seq": "dog", "F": 1e-5, "J": float("nan")}]
    doc = HtmlReport("t").table(rows).to_html()
    heads = re.findall(r"<th>(.*?)</th>", doc)
    assert heads == ["seq", "J", "n", "F"]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", doc)
    assert cells == ["bear", "0.9123", "12345678", "", "dog", "nan", "", "1e-05"]
    assert format_cell(np.float64(123.456)) == "123.5"
    assert format_cell(np.int64(3)) == "3"
    assert format_cell(True) == "True"
    assert format_cell(None) == ""
