"""Pictures of generated data: one scene of every variant, and a clip with its instances and flow.

Used for docs/synth.md and for a quick look at a freshly generated folder::

    from spelke.synth.gallery import variant_gallery, clip_figure
    variant_gallery("variants.png", size=(160, 160), samples=32)
    clip_figure("data/mct", "000000", "clip.png", gif="clip.gif")
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from spelke.data.io import atomic_path, read_image, read_label_map
from spelke.synth.generate import GenerateConfig, generate_images, sample_paths
from spelke.synth.variants import get_variant, list_variants
from spelke.viz import colorize, flow_to_color, image_grid, overlay, write_gif


def _save_png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(Path(path)) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")


def variant_gallery(
    path: str | Path,
    variants: list[str] | None = None,
    per_variant: int = 2,
    size: tuple[int, int] = (160, 160),
    samples: int = 32,
    seed: int = 0,
) -> Path:
    """Render ``per_variant`` scenes of every variant and save a grid: each variant's images over their
    instance maps, titled with the variant's name and on-disk key."""
    rows: list[np.ndarray] = []
    titles: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="spelke-gallery-"))
    names = variants or list_variants()
    for k, name in enumerate(names):
        var = get_variant(name)
        # a different seed per variant: with one seed every variant would show the same layout
        cfg = GenerateConfig(
            variant=name, num=per_variant, size=size, samples=samples, seed=seed + k, shadow_samples=0
        )
        generate_images(cfg, tmp, (0, 1))
        for i in range(per_variant):
            p = sample_paths(tmp, var.key, i)
            img = read_image(p["image"])
            rows.append(img)
            titles.append(f"{var.name} ({var.key})")
            rows.append(overlay(img, read_label_map(p["mask"]), alpha=0.6))
            titles.append("instances")
    grid = image_grid(rows, ncols=2 * per_variant * 2, titles=titles)
    _save_png(Path(path), grid)
    return Path(path)


def clip_figure(
    root: str | Path, seq: str, path: str | Path, gif: str | Path | None = None, gap: int = 1
) -> Path:
    """A generated clip as three rows (frames, instance maps, ground-truth flow to ``t + gap``) saved as
    PNG, and optionally as a GIF of the same panels side by side."""
    from spelke.synth.moving import flow_between

    root = Path(root)
    frames = sorted((root / "JPEGImages" / seq).glob("[0-9]*.png"))
    imgs = [read_image(f) for f in frames]
    labels = [read_label_map(root / "Annotations" / seq / f.name) for f in frames]
    flows = []
    for t in range(len(frames)):
        t1 = t + gap if 0 <= t + gap < len(frames) else t - gap
        flows.append(flow_between(root, seq, t, t1))
    top = max(float(np.linalg.norm(f, axis=0).max()) for f in flows) or 1.0
    flow_rgb = [flow_to_color(f, max_flow=top) for f in flows]
    cells = imgs + [colorize(lab) for lab in labels] + flow_rgb
    titles = [f"frame {t}" for t in range(len(frames))] + ["instances"] * len(frames)
    titles += [f"flow {t}->{t + gap if 0 <= t + gap < len(frames) else t - gap}" for t in range(len(frames))]
    _save_png(Path(path), image_grid(cells, ncols=len(frames), titles=titles))
    if gif is not None:
        panels = [
            image_grid([i, colorize(lab), f], ncols=3)
            for i, lab, f in zip(imgs, labels, flow_rgb, strict=True)
        ]
        write_gif(gif, panels, fps=4)
    return Path(path)
