"""The official ClevrTex file layout, splits and preprocessing, shared by the loader and the protocol.

ClevrTex (Karazija et al., NeurIPS 2021 Datasets and Benchmarks; ``karazijal/clevrtex-generation``,
``clevrtex_eval.py``) stores each variant in ``clevrtex_<key>/<idx // 1000>/`` as
``CLEVRTEX_<key>_<6 digits>.png`` (image), ``..._flat.png`` (instance ids, 0 = background, object ``k``
of the metadata has id ``k + 1``) and ``....json`` (metadata). Splits are by index: test = the first
10 %, val = the next 10 %, train = the rest; the OOD variant (``outd``) has no split. The official loader
centre-crops ``int(0.8 * min(H, W))`` pixels (box ``((W - c) // 2, (H - c) // 2, (W + c) // 2,
(H + c) // 2)``) and resizes to 128 x 128 with PIL, bilinear for images and nearest for masks.

Both :class:`spelke.data.datasets.clevrtex.ClevrTexDataset` (feeding methods) and the ``clevrtex``
evaluation protocol read through these functions, so the two cannot drift apart.

Examples:
    >>> crop_box(320, 240)
    (64, 24, 256, 216)
    >>> split_indices(list(range(20)), "val", "full")
    [2, 3]
    >>> variant_key("plainbg")
    'pbg'
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from spelke.errors import ConfigError, DataLayoutError

__all__ = [
    "CLEVRTEX_TREE",
    "SPLITS",
    "VARIANT_KEYS",
    "crop_box",
    "find_clevrtex",
    "parse_clevrtex_name",
    "preprocess_image",
    "preprocess_mask",
    "split_indices",
    "variant_key",
]

#: Accepted variant names -> the key used in file names. The short keys are the official ones
#: (``clevrtex_eval.py``: full, pbg, vbg, grassbg, camo, outd); the long names are the thesis' words;
#: ``clevr`` is spelke's CLEVR-material extension.
VARIANT_KEYS = {
    "full": "full",
    "pbg": "pbg",
    "plainbg": "pbg",
    "vbg": "vbg",
    "varbg": "vbg",
    "grassbg": "grassbg",
    "camo": "camo",
    "outd": "outd",
    "ood": "outd",
    "clevr": "clevr",
}
#: Index fractions of each split (``clevrtex_eval.py``: ``CLEVRTEX.splits``); ``all`` is spelke's.
SPLITS = {"test": (0.0, 0.1), "val": (0.1, 0.2), "train": (0.2, 1.0), "all": (0.0, 1.0)}
_NAME = re.compile(r"^CLEVRTEX_([A-Za-z]+)_(\d{6})$")

CLEVRTEX_TREE = """\
  <root>/clevrtex_<key>/<idx // 1000>/CLEVRTEX_<key>_<6 digits>.png       RGB image
  <root>/clevrtex_<key>/<idx // 1000>/CLEVRTEX_<key>_<6 digits>_flat.png  instance ids, 0 = background
  <root>/clevrtex_<key>/<idx // 1000>/CLEVRTEX_<key>_<6 digits>.json      metadata (objects, ground_material)
  keys: full, pbg, vbg, grassbg, camo, outd (and clevr for spelke's CLEVR-material extension);
  <root> may also be the clevrtex_<key>/ folder itself"""


def variant_key(variant: str | None) -> str | None:
    """The file-name key of a variant name or alias (``"plainbg"`` -> ``"pbg"``); None stays None.

    Raises:
        ConfigError: an unknown variant, listing the accepted names.
    """
    if variant is None:
        return None
    v = str(variant).strip().lower()
    if v not in VARIANT_KEYS:
        raise ConfigError(f"unknown ClevrTex variant {variant!r}; use one of {', '.join(VARIANT_KEYS)}")
    return VARIANT_KEYS[v]


def parse_clevrtex_name(stem: str) -> tuple[str, int] | None:
    """``"CLEVRTEX_full_000012"`` -> ``("full", 12)``; None for any other name (e.g. ``..._flat``)."""
    m = _NAME.match(stem)
    return (m.group(1), int(m.group(2))) if m else None


def crop_box(width: int, height: int, frac: float = 0.8) -> tuple[int, int, int, int]:
    """The official centre-crop box for an image of the given size."""
    c = int(frac * float(min(width, height)))
    return ((width - c) // 2, (height - c) // 2, (width + c) // 2, (height + c) // 2)


def preprocess_mask(mask: np.ndarray, size: int | None = 128, frac: float | None = 0.8) -> np.ndarray:
    """Centre crop and nearest resize of an (H, W) id map, as the official loader does it with PIL.

    ``frac=None`` skips the crop, ``size=None`` the resize.
    """
    im = Image.fromarray(np.asarray(mask).astype(np.int32), mode="I")
    if frac is not None:
        im = im.crop(crop_box(im.width, im.height, frac))
    if size is not None:
        im = im.resize((size, size), resample=Image.NEAREST)
    return np.asarray(im).astype(np.int64)


def preprocess_image(path: Path, size: int | None = 128, frac: float | None = 0.8) -> np.ndarray:
    """Centre crop and bilinear resize of an RGB image file, returned as (3, size, size) float in [0, 1].

    ``frac=None`` skips the crop, ``size=None`` the resize. The image is converted to RGB before
    resampling; the official loader resamples the RGBA file and then drops alpha, which is the same for
    the opaque ClevrTex renders.
    """
    with Image.open(path) as im:
        im = im.convert("RGB")
        if frac is not None:
            im = im.crop(crop_box(im.width, im.height, frac))
        if size is not None:
            im = im.resize((size, size), resample=Image.BILINEAR)
        return np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0


def _default_error(problem: str, where: Path) -> Exception:
    return DataLayoutError(f"{problem}; expected the ClevrTex layout:\n{CLEVRTEX_TREE}")


def find_clevrtex(
    root: Path,
    variant: str | None,
    error: Callable[[str, Path], Exception] | None = None,
) -> tuple[str, dict[int, Path]]:
    """Index the ``CLEVRTEX_<key>_<idx>.png`` images under ``root``: returns (key, {index: image path}).

    Args:
        root: a folder holding ``clevrtex_<key>/``, or that folder itself (searched recursively).
        variant: a variant name or alias (:data:`VARIANT_KEYS`); None: the only variant present.
        error: builds the exception raised for a wrong layout from (problem, folder looked at);
            default: a :class:`DataLayoutError` that prints :data:`CLEVRTEX_TREE`.

    Raises:
        DataLayoutError: (or what ``error`` builds) no such folder, no images, or not this variant.
        ConfigError: several variants under ``root`` and no ``variant`` given, or an unknown variant.
    """
    make_error = error or _default_error
    root = Path(root)
    if not root.is_dir():
        raise make_error(f"folder {root} does not exist", root)
    key = variant_key(variant)
    if key and (root / f"clevrtex_{key}").is_dir():
        root = root / f"clevrtex_{key}"
    found: dict[str, dict[int, Path]] = defaultdict(dict)
    for p in root.rglob("CLEVRTEX_*.png"):
        parsed = parse_clevrtex_name(p.stem)
        if parsed:
            found[parsed[0]][parsed[1]] = p
    if not found:
        raise make_error(f"no ClevrTex images (CLEVRTEX_<key>_<6 digits>.png) under {root}", root)
    if key is None:
        if len(found) > 1:
            raise ConfigError(
                f"{root} holds several ClevrTex variants ({', '.join(sorted(found))}); choose one with variant=KEY"
            )
        key = next(iter(found))
    if key not in found:
        raise make_error(
            f"no images of variant '{key}' under {root}; found variants: {', '.join(sorted(found))}", root
        )
    return key, found[key]


def split_indices(indices: list[int], split: str, key: str) -> list[int]:
    """The official index split: fractions of the sorted index list (``outd`` is never split)."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    idx = sorted(indices)
    if key == "outd":
        return idx
    lo, hi = SPLITS[split]
    return idx[int(lo * len(idx)) : int(hi * len(idx))]
