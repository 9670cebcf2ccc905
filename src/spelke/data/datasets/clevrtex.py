"""``clevrtex``: ClevrTex (Karazija et al., NeurIPS 2021 Datasets and Benchmarks) in its official layout.

One dataset for every variant (option ``variant``), read and preprocessed as the official loader
(``clevrtex_eval.py``, class ``CLEVRTEX``) does it, through the helpers in
:mod:`spelke.data.clevrtex_layout` that the ``clevrtex`` evaluation protocol uses too.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from spelke.data.clevrtex_layout import (
    CLEVRTEX_TREE,
    SPLITS,
    find_clevrtex,
    preprocess_image,
    preprocess_mask,
    split_indices,
)
from spelke.data.datasets.base import ImageDataset, as_bool, as_int
from spelke.data.io import read_json, read_label_map
from spelke.data.registry import register_dataset
from spelke.errors import ConfigError, DataLayoutError

__all__ = ["ClevrTexDataset"]


def _crop_fraction(crop: Any) -> float | None:
    """``crop`` option -> crop fraction: True = the official 0.8, False = no crop, or a fraction in (0, 1]."""
    if isinstance(crop, bool) or str(crop).strip().lower() in ("true", "false", "yes", "no", "on", "off"):
        return 0.8 if as_bool(crop, "crop") else None
    try:
        frac = float(crop)
    except (TypeError, ValueError):
        raise ConfigError(f"option crop must be true, false or a fraction in (0, 1], got {crop!r}") from None
    if not 0.0 < frac <= 1.0:
        raise ConfigError(f"option crop must be a fraction in (0, 1], got {frac}")
    return frac


@register_dataset(
    "clevrtex",
    summary="ClevrTex, any variant (full, pbg, vbg, grassbg, camo, outd): official layout, splits and crop",
    kind="image",
)
class ClevrTexDataset(ImageDataset):
    """ClevrTex images with instance maps (0 = background, object ``k`` of the metadata has id ``k + 1``).

    Items are named by file stem (``CLEVRTEX_full_000012``) and ordered by index.

    Args:
        root: a folder holding ``clevrtex_<key>/`` (or that folder itself).
        split: ``test`` (first 10 % of the indices), ``val`` (next 10 %), ``train`` (the rest), or None /
            ``all`` for every image. The ``outd`` variant has no split: every split is all of it.
        variant: ``full``, ``pbg`` (alias ``plainbg``), ``vbg`` (``varbg``), ``grassbg``, ``camo``,
            ``outd`` (``ood``); None: the only variant under the root.
        crop: the official centre crop of ``int(0.8 * min(H, W))`` pixels (True, default), none
            (False), or another fraction.
        size: resize the (cropped) image to ``size`` x ``size`` (PIL bilinear; masks nearest); default
            128 as the official loader; None or 0 keeps the size.
        metadata: put the image's ``.json`` in ``Frame.meta["metadata"]`` (pixel coordinates in it
            refer to the uncropped render).
    """

    layout = textwrap.dedent(CLEVRTEX_TREE)

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        variant: str | None = None,
        crop: bool | float = True,
        size: int | None = 128,
        metadata: bool = False,
    ) -> None:
        super().__init__(root, split)
        self.frac = _crop_fraction(crop)
        self.size = as_int(size, "size", 0, allow_none=True) or None
        self.metadata = as_bool(metadata, "metadata")
        split_name = "all" if split is None else str(split)
        if split_name not in SPLITS:
            raise ConfigError(f"ClevrTex splits are {', '.join(SPLITS)}; got split={split!r}")
        self.variant, index = find_clevrtex(self.root, variant, self.layout_error)
        chosen = split_indices(list(index), split_name, self.variant)
        self.indices = chosen
        self._files = [index[i] for i in chosen]
        self.names = [p.stem for p in self._files]

    def image(self, i: int) -> np.ndarray:
        return preprocess_image(self._files[i], self.size, self.frac)

    def mask_path(self, i: int) -> Path:
        """The ``_flat.png`` instance map of image ``i``."""
        p = self._files[i]
        return p.with_name(f"{p.stem}_flat.png")

    def labels(self, i: int) -> np.ndarray | None:
        flat = self.mask_path(i)
        if not flat.is_file():
            raise DataLayoutError(f"{flat} is missing: every ClevrTex image needs its _flat.png instance map")
        return preprocess_mask(read_label_map(flat), self.size, self.frac)

    def meta(self, i: int) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.indices[i], "variant": self.variant}
        if self.metadata:
            p = self._files[i].with_suffix(".json")
            if not p.is_file():
                raise DataLayoutError(f"{p} is missing; pass metadata=False to read images without metadata")
            out["metadata"] = read_json(p)
        return out
