"""Speed and agreement of spelke's ARI, FG-ARI and mIoU against per-image scikit-learn / SciPy references.

Scores 256 label maps of 128x128 with up to 11 segments (a background plus up to 10 blobby objects; the
prediction is a jittered, relabelled copy with over- and under-segmentation), and a second batch of
pure-noise labels, with spelke's batched functions and with the simple per-image references, in the same
run. Prints JSON: best-of-R timings, speedups and the max abs difference of the values.

    .venv/bin/python benchmarks/metrics.py [--n 256] [--size 128] [--repeats 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.cluster import contingency_matrix

from spelke.eval.segmentation import ari, fg_ari, miou, segmentation_scores


def blobby_batch(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth: background 0 + 3..10 random ellipses; prediction: jittered, relabelled ellipses."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    true = np.zeros((n, size, size), dtype=np.int64)
    pred = np.zeros((n, size, size), dtype=np.int64)
    for i in range(n):
        k = int(rng.integers(3, 11))
        c = rng.uniform(0.1 * size, 0.9 * size, (k, 2))
        r = rng.uniform(0.05 * size, 0.2 * size, (k, 2))
        ids = rng.permutation(11)  # prediction ids are arbitrary; the background is not 0
        # prediction background split in two slots along a random line (over-segmentation of bg)
        pred[i] = np.where(xx + rng.uniform(-1, 1) * yy > rng.uniform(0, size), ids[0], ids[1])
        for j in range(k):
            inside = ((yy - c[j, 0]) / r[j, 0]) ** 2 + ((xx - c[j, 1]) / r[j, 1]) ** 2 <= 1.0
            true[i][inside] = j + 1
            cj = c[j] + rng.normal(0, 0.03 * size, 2)
            rj = r[j] * rng.uniform(0.8, 1.2, 2)
            inside_p = ((yy - cj[0]) / rj[0]) ** 2 + ((xx - cj[1]) / rj[1]) ** 2 <= 1.0
            # sometimes two objects merge into one predicted segment (under-segmentation)
            pid = ids[j + 1] if j + 1 < 10 and rng.random() > 0.15 else ids[max(j, 2)]
            pred[i][inside_p] = pid
    return pred, true


def ref_ari(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    return np.array([adjusted_rand_score(t.ravel(), p.ravel()) for p, t in zip(pred, true, strict=True)])


def ref_fg_ari(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    out = []
    for p, t in zip(pred, true, strict=True):
        fg = t.ravel() != 0
        out.append(adjusted_rand_score(t.ravel()[fg], p.ravel()[fg]) if fg.any() else np.nan)
    return np.array(out)


def ref_miou(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    out = []
    for p, t in zip(pred, true, strict=True):
        c = contingency_matrix(t.ravel(), p.ravel())  # (true, pred) over labels present
        union = c.sum(1, keepdims=True) + c.sum(0, keepdims=True) - c
        iou = c / union
        r, k = linear_sum_assignment(iou, maximize=True)
        out.append(iou[r, k].sum() / max(iou.shape))
    return np.array(out)


def best_of(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    best, val = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        val = fn()
        best = min(best, time.perf_counter() - t0)
    assert val is not None
    return best, val


def run(pred: np.ndarray, true: np.ndarray, repeats: int) -> dict[str, object]:
    res: dict[str, object] = {}
    total_ref = 0.0
    for name, ours, ref in (("ari", ari, ref_ari), ("fg_ari", fg_ari, ref_fg_ari), ("miou", miou, ref_miou)):
        t_ref, v_ref = best_of(lambda ref=ref: ref(pred, true), max(1, repeats // 2))
        t_ours, v_ours = best_of(lambda ours=ours: ours(pred, true), repeats)
        total_ref += t_ref
        res[name] = {
            "ours_s": round(t_ours, 5),
            "reference_s": round(t_ref, 5),
            "speedup": round(t_ref / t_ours, 1),
            "max_abs_diff": float(np.nanmax(np.abs(v_ours - v_ref))),
            "nan_mismatch": int((np.isnan(v_ours) != np.isnan(v_ref)).sum()),
        }
    t_all, _v_all = best_of(lambda: segmentation_scores(pred, true, ["ari", "fg_ari", "miou"]), repeats)
    res["all_three_one_pass"] = {
        "ours_s": round(t_all, 5),
        "reference_s": round(total_ref, 5),
        "speedup": round(total_ref / t_all, 1),
    }
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    pred_b, true_b = blobby_batch(args.n, args.size, rng)
    shape = (args.n, args.size, args.size)
    true_r = rng.integers(0, 11, shape)
    pred_r = rng.integers(0, 11, shape)
    out = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__},
        "batch": {"n": args.n, "size": args.size, "max_segments": 11, "repeats": args.repeats},
        "blobby": run(pred_b, true_b, args.repeats),
        "random": run(pred_r, true_r, args.repeats),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
