"""The ClevrTex protocol (thesis Ch. 2, App. B.3; spec clevrtex.md §3 and §9).

Ground truth is read in the official layout, ``clevrtex_<key>/<idx // 1000>/CLEVRTEX_<key>_<6 digits>.png``
with ``_flat.png`` instance maps (0 = background, object ``i`` of the metadata has id ``i + 1``) and
``.json`` metadata. Preprocessing follows the official loader bit for bit: a centre crop of
``int(0.8 * min(H, W))`` pixels (crop box ``((W - c) // 2, (H - c) // 2, (W + c) // 2, (H + c) // 2)``),
then a resize to 128 x 128 with PIL, bilinear for images and nearest for masks. Splits are by index:
test = the first 10 %, val = the next 10 %, train = the rest; the OOD variant (``outd``) has no split.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from spelke.data.clevrtex_layout import CLEVRTEX_TREE as _TREE
from spelke.data.clevrtex_layout import (
    SPLITS,
    VARIANT_KEYS,
    crop_box,
    preprocess_image,
    preprocess_mask,
    split_indices,
)
from spelke.data.clevrtex_layout import find_clevrtex as _find_clevrtex
from spelke.data.io import read_image, read_json, read_label_map, read_soft_mask
from spelke.errors import DataLayoutError, ShapeError
from spelke.eval.protocols.base import (
    EvalResult,
    ItemScore,
    ProgressFn,
    Protocol,
    iter_with_progress,
    list_prediction_stems,
    no_progress,
    note_extra,
    prediction_root,
    report_missing,
)
from spelke.eval.reconstruction import count_segments, object_count_accuracy, reconstruction_mse
from spelke.eval.segmentation import ari, dice, dice_fg, fg_ari, match_segments, miou, miou_fg, miou_gt, msc

# The layout helpers live in spelke.data.clevrtex_layout (shared with the ``clevrtex`` dataset); they
# are re-exported here so that existing imports keep working.
__all__ = [
    "CLEVRTEX_TREE",
    "SPLITS",
    "VARIANT_KEYS",
    "ClevrTex",
    "crop_box",
    "find_clevrtex",
    "preprocess_image",
    "preprocess_mask",
    "split_indices",
]

#: The ground-truth tree as the protocol prints it (the dataset's root is the protocol's ``<gt>``).
CLEVRTEX_TREE = _TREE.replace("<root>", "<gt>")


def find_clevrtex(gt: Path, variant: str | None) -> tuple[str, dict[int, Path]]:
    """Index the ClevrTex ground truth under ``gt``: (key, {index: image path}); errors print the tree."""

    def error(problem: str, where: Path) -> Exception:
        return DataLayoutError(f"ground truth: {problem}; expected the ClevrTex layout:\n{CLEVRTEX_TREE}")

    return _find_clevrtex(gt, variant, error)


class ClevrTex(Protocol):
    """ClevrTex: mIoU (headline), FG-ARI, MSE and per-attribute breakdowns on 128 x 128 centre crops."""

    name = "clevrtex"
    version = "1"
    summary = "ClevrTex: crop 0.8 + resize 128; mIoU, FG-ARI, mSC, DICE, count acc., MSE, per-attribute"
    reads = ("labels", "soft")
    options: ClassVar[dict[str, Any]] = {
        "split": "test",
        "variant": None,
        "size": 128,
        "crop": 0.8,
        "allow_missing": False,
        "resize": "none",
    }
    gt_layout = CLEVRTEX_TREE
    pred_layout = (
        "<pred>/CLEVRTEX_<key>_<6 digits>.png label maps (or .npz soft masks), at 128 x 128 or at the original "
        "image size (then cropped and resized like the ground truth); optional <name>_recon.png reconstructions for MSE"
    )

    def evaluate(self, pred, gt, *, progress: ProgressFn = no_progress, **options) -> EvalResult:
        opts = self.resolve_options(options)
        pred_root = prediction_root(Path(pred))
        key, index = find_clevrtex(Path(gt), opts["variant"])
        chosen = split_indices(list(index), opts["split"], key)
        preds_by_name = {Path(s).name: s for s in list_prediction_stems(pred_root)}
        names = [index[i].stem for i in chosen]
        missing = [n for n in names if n not in preds_by_name]
        notes = [
            n for n in (report_missing(missing, pred_root, self.pred_layout, opts["allow_missing"]),) if n
        ]
        extra = note_extra(
            set(preds_by_name) - set(names) - {f"{n}_recon" for n in names},
            "prediction file(s) are not in this split and were ignored",
        )
        if extra:
            notes.append(extra)

        size, frac = int(opts["size"]), float(opts["crop"])
        per_image: list[dict[str, Any]] = []
        items: list[ItemScore] = []
        obj_iou: dict[tuple[str, str], list[float]] = defaultdict(list)
        obj_mse: dict[tuple[str, str], list[float]] = defaultdict(list)
        ground_iou: dict[str, list[float]] = defaultdict(list)
        ground_mse: dict[str, list[float]] = defaultdict(list)
        n_meta = 0
        for i in iter_with_progress(chosen, progress, f"{self.name} ({key}, {opts['split']})"):
            img_path = index[i]
            name = img_path.stem
            flat = img_path.with_name(f"{name}_flat.png")
            if not flat.is_file():
                raise DataLayoutError(
                    f"{flat} is missing: every ClevrTex image needs its _flat.png instance map"
                )
            flat_labels = read_label_map(flat)
            true = preprocess_mask(flat_labels, size, frac)
            pred_file = self._pred_file(pred_root, preds_by_name.get(name))
            labels = self._read_pred(pred_file, true.shape, flat_labels.shape, size, frac, opts)
            row: dict[str, Any] = {"image": name}
            P, T = labels[None], true[None]
            for metric, fn in (
                ("miou", miou),
                ("miou_fg", miou_fg),
                ("miou_gt", miou_gt),
                ("fg_ari", fg_ari),
                ("ari", ari),
                ("msc", msc),
                ("dice", dice),
                ("dice_fg", dice_fg),
            ):
                row[metric] = float(fn(P, T)[0])
            row["count_acc"] = float(
                object_count_accuracy(count_segments(P, background=None), count_segments(T, background=None))[
                    0
                ]
            )
            recon = None
            recon_stem = preds_by_name.get(f"{name}_recon")
            if recon_stem is not None:
                recon = read_image(pred_root / f"{recon_stem}.png")
                true_img = preprocess_image(img_path, size, frac)
                if recon.shape != true_img.shape:
                    raise ShapeError(
                        f"reconstruction {recon_stem}.png has shape {recon.shape}, expected {true_img.shape} "
                        f"(the {size} x {size} centre crop)"
                    )
                row["mse"] = float(reconstruction_mse(recon[None], true_img[None])[0])
            per_image.append(row)
            items.append(ItemScore(name, row["miou"], flat, pred_file, img_path))

            meta_path = img_path.with_suffix(".json")
            if meta_path.is_file():
                n_meta += 1
                meta = read_json(meta_path)
                match = match_segments(labels, true)
                sq_err = None
                if recon is not None:
                    sq_err = ((recon - true_img) ** 2).sum(0)  # per-pixel squared error summed over C
                gm = str(meta.get("ground_material", "unknown"))
                if 0 in match.matched_iou:
                    ground_iou[gm].append(match.matched_iou[0])
                    if sq_err is not None:
                        ground_mse[gm].append(float(sq_err[true == 0].sum()))
                for k, obj in enumerate(meta.get("objects", [])):
                    oid = k + 1  # the official loader: object k of the metadata has id k + 1
                    if oid not in match.matched_iou:  # cropped out: the official evaluator skips it too
                        continue
                    for attr in ("shape", "size", "material", "color"):
                        if attr in obj and obj[attr] is not None and (attr != "color" or key == "vbg"):
                            obj_iou[(attr, str(obj[attr]))].append(match.matched_iou[oid])
                            if sq_err is not None:
                                obj_mse[(attr, str(obj[attr]))].append(float(sq_err[true == oid].sum()))

        summary = _means(per_image)
        summary["images"] = len(per_image)
        per_attr = [
            {
                "attribute": a,
                "value": v,
                "obj_iou": float(np.mean(x)),
                "objects": len(x),
                **({"obj_mse": float(np.mean(obj_mse[(a, v)]))} if (a, v) in obj_mse else {}),
            }
            for (a, v), x in sorted(obj_iou.items())
        ]
        per_attr += [
            {
                "attribute": "ground_material",
                "value": g,
                "ground_iou": float(np.mean(x)),
                "images": len(x),
                **({"ground_mse": float(np.mean(ground_mse[g]))} if g in ground_mse else {}),
            }
            for g, x in sorted(ground_iou.items())
        ]
        if per_image and not n_meta:
            notes.append("no metadata (.json) beside the images: per-attribute breakdown skipped")
        opts["variant"] = key
        return EvalResult(
            self.name,
            self.version,
            summary,
            {"per_image": per_image, "per_attribute": per_attr},
            items,
            notes,
            opts,
            "miou",
        )

    @staticmethod
    def _pred_file(root: Path, stem: str | None) -> Path | None:
        if stem is None:
            return None
        for ext in (".png", ".npz"):
            if (root / f"{stem}{ext}").is_file():
                return root / f"{stem}{ext}"
        return None

    def _read_pred(self, path, shape, orig_shape, size, frac, opts) -> np.ndarray:
        if path is None:
            return np.zeros(shape, np.int64)
        if path.suffix == ".npz":
            probs = read_soft_mask(path)
            if probs.shape[-2:] == tuple(orig_shape) and tuple(orig_shape) != tuple(shape):
                return preprocess_mask(probs.argmax(0), size, frac)
            lab = probs.argmax(0)  # hard argmax, as the official evaluator
        else:
            lab = read_label_map(path)
            if lab.shape == tuple(orig_shape) and tuple(orig_shape) != tuple(shape):
                return preprocess_mask(lab, size, frac)
        if lab.shape != tuple(shape):
            if opts["resize"] == "nearest":
                im = Image.fromarray(lab.astype(np.int32), mode="I").resize(
                    (shape[1], shape[0]), Image.NEAREST
                )
                return np.asarray(im).astype(np.int64)
            raise ShapeError(
                f"prediction {path.name} has size {lab.shape}; expected {tuple(shape)} (the protocol's "
                f"{size} x {size} crop) or {tuple(orig_shape)} (the original image); or pass resize=nearest"
            )
        return lab


def _means(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys and isinstance(r[k], float)]
    out = {}
    for k in keys:
        v = np.array([r[k] for r in rows if k in r], dtype=np.float64)
        out[k] = float(np.nanmean(v)) if np.any(~np.isnan(v)) else float("nan")
    return out


PROTOCOL_CLASSES: list[type[Protocol]] = [ClevrTex]
