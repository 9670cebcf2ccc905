"""Run a named protocol over prediction files and write its outputs (JSON, CSV tables, a gallery).

This is the library call behind ``spelke evaluate``; notebooks can use it directly.

Examples:
    >>> from spelke.evaluate import run_evaluation  # doctest: +SKIP
    >>> result = run_evaluation("davis2016", "runs/gwm/x/predictions", "data/DAVIS", out="metrics.json")
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spelke.data.io import atomic_write, read_image, read_label_map, read_soft_mask, write_json
from spelke.eval.protocols import EvalResult, ItemScore, create_protocol
from spelke.eval.protocols.base import ProgressFn, no_progress


def run_evaluation(
    protocol: str,
    pred: str | Path,
    gt: str | Path,
    *,
    out: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
    gallery: int = 0,
    progress: ProgressFn = no_progress,
) -> EvalResult:
    """Evaluate ``pred`` against ``gt`` with the named protocol; optionally write results.

    Args:
        protocol: a registered protocol name (``spelke list protocols``).
        pred: the predictions folder (or a run directory holding ``predictions/``).
        gt: the ground-truth root in the benchmark's layout.
        out: a ``.json`` path; the tables go beside it as ``<stem>_<table>.csv``.
        options: protocol options (``{"frames": "no-first"}``), strings are coerced to the option's type.
        gallery: if > 0, write the best and worst ``gallery`` items as pictures beside ``out``.
        progress: a progress wrapper (rich's ``track`` fits).
    """
    proto = create_protocol(protocol)
    result = proto.evaluate(Path(pred), Path(gt), progress=progress, **dict(options or {}))
    if out is not None:
        write_result(result, Path(out))
        if gallery > 0:
            write_gallery(result, Path(out).with_name(f"{Path(out).stem}_gallery"), gallery)
    return result


def write_result(result: EvalResult, out: Path) -> list[Path]:
    """Write ``out`` (JSON) and one CSV per table beside it; returns the paths written."""
    if out.suffix.lower() != ".json":
        out = out.with_suffix(".json")
    write_json(out, result.to_dict())
    written = [out]
    for name in result.tables:
        if not result.tables[name]:
            continue
        p = out.with_name(f"{out.stem}_{name}.csv")
        with atomic_write(p, "w") as f:
            f.write(result.table_csv(name))
        written.append(p)
    return written


def _load_item(item: ItemScore) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    img = read_image(item.image_path) if item.image_path else None
    gt = read_label_map(item.gt_path) if item.gt_path and item.gt_path.is_file() else None
    pred = None
    if item.pred_path is not None and item.pred_path.is_file():
        if item.pred_path.suffix == ".npz":
            pred = read_soft_mask(item.pred_path).argmax(0)
        else:
            pred = read_label_map(item.pred_path)
    return img, gt, pred


def write_gallery(result: EvalResult, folder: Path, n: int) -> Path | None:
    """Pictures of the ``n`` best and ``n`` worst items (image | ground truth | prediction) + an HTML page."""
    from spelke.viz import HtmlReport, colorize, image_grid, overlay

    scored = [it for it in result.items if it.score is not None and not math.isnan(it.score)]
    if not scored:
        return None
    scored.sort(key=lambda it: it.score)
    worst, best = scored[:n], scored[::-1][:n]
    folder.mkdir(parents=True, exist_ok=True)
    report = HtmlReport(f"{result.protocol}: best and worst items by {result.headline or 'score'}")
    for title, group in (("Best", best), ("Worst", worst)):
        report.heading(title)
        for rank, it in enumerate(group):
            img, gt, pred = _load_item(it)
            tiles, titles = [], []
            for lab, what in ((gt, "ground truth"), (pred, "prediction")):
                if lab is None:
                    continue
                if img is not None and img.shape[-2:] == lab.shape:
                    tiles.append(overlay(img, lab))
                else:
                    tiles.append(colorize(lab))
                titles.append(what)
            if img is not None:
                tiles.insert(0, img)
                titles.insert(0, "image")
            if not tiles:
                continue
            grid = image_grid(tiles, ncols=len(tiles), titles=titles)
            safe = it.key.replace("/", "__")
            from PIL import Image

            p = folder / f"{title.lower()}_{rank:02d}_{safe}.png"
            with atomic_write(p, "wb") as f:
                Image.fromarray(grid).save(f, format="PNG")
            report.image(grid, caption=f"{it.key}: {result.headline or 'score'} = {it.score:.4f}")
    page = folder / "index.html"
    report.save(page)
    return page
