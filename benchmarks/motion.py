"""Speed and accuracy of spelke's optical-flow backends on this machine.

* **Speed**: frame pairs per second of each backend (DIS presets, Farnebäck, RAFT-small/large) at
  480x854 (DAVIS 480p) and 128x224 (GWM's training resolution), on textured synthetic frames, with the
  ratio to DIS medium (the CPU default) measured in the same run. RAFT runs with random weights (speed
  does not depend on the weights) on the device given by ``--device`` (default: CPU).
* **Accuracy**: average end-point error (pixels) against the exact flow of the textured-motion fixture
  (:mod:`spelke.synth.textured_motion`), over all pixels and over non-occluded pixels, for forward
  pairs of several clips, with the zero-flow error as the reference. RAFT's accuracy needs real
  weights: pass ``--raft-small-weights`` / ``--raft-large-weights`` (a local file or a torchvision
  weights name in torch's cache); without them RAFT's accuracy is not reported.

Prints JSON.

    .venv/bin/python benchmarks/motion.py [--sizes 480x854,128x224] [--min-time 3] [--min-pairs 3] [--clips 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import numpy as np

from spelke.motion import create_flow_backend, end_point_error
from spelke.synth.textured_motion import make_textured_video

SETTINGS: list[tuple[str, str, dict[str, Any]]] = [
    ("dis-ultrafast", "dis", {"preset": "ultrafast"}),
    ("dis-fast", "dis", {"preset": "fast"}),
    ("dis-medium", "dis", {"preset": "medium"}),
    ("farneback", "farneback", {}),
    ("raft-small", "raft-small", {}),
    ("raft-large", "raft-large", {}),
]


def time_pairs(
    backend: Any, frames: np.ndarray, min_time: float, min_pairs: int, max_pairs: int
) -> tuple[float, float, int]:
    """Per-pair times (ms) over consecutive pairs of ``frames`` after one warm-up call: at least
    ``min_pairs`` pairs and ``min_time`` seconds, at most ``max_pairs``. Returns (best, median, count):
    the best is robust to other jobs on a shared machine, the median shows the spread."""
    backend(frames[0], frames[1])
    times: list[float] = []
    t_start = time.perf_counter()
    while len(times) < max_pairs and (len(times) < min_pairs or time.perf_counter() - t_start < min_time):
        i = len(times) % (len(frames) - 1)
        t0 = time.perf_counter()
        backend(frames[i], frames[i + 1])
        times.append(1000 * (time.perf_counter() - t0))
    return float(np.min(times)), float(np.median(times)), len(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="480x854,128x224", help="comma-separated HxW sizes for speed")
    ap.add_argument("--min-time", type=float, default=3.0, help="seconds of timing per backend and size")
    ap.add_argument("--min-pairs", type=int, default=3)
    ap.add_argument("--max-pairs", type=int, default=50)
    ap.add_argument("--clips", type=int, default=3, help="fixture clips for the accuracy table")
    ap.add_argument("--epe-size", default="128x224", help="HxW of the accuracy fixture clips")
    ap.add_argument("--device", default="cpu", help="device of the RAFT backends")
    ap.add_argument("--raft-iters", type=int, default=20)
    ap.add_argument("--raft-small-weights", default=None)
    ap.add_argument("--raft-large-weights", default=None)
    ap.add_argument("--skip", default="", help="comma-separated setting names to skip")
    args = ap.parse_args()
    skip = {s for s in args.skip.split(",") if s}

    import cv2

    info: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "opencv": cv2.__version__,
            "opencv_threads": cv2.getNumThreads(),
        },
        "notes": [
            "speed: frame pairs per second from the best per-pair time (one pair per call, after a warm-up "
            "call); the median shows the spread on a shared machine",
            "RAFT speed uses random weights (weights do not change the cost), iters as given",
            "epe: mean over forward pairs (t, t+1) of the mean end-point error in pixels; noc = non-occluded",
        ],
    }
    try:
        import torch

        info["machine"]["torch"] = torch.__version__
        info["machine"]["torch_threads"] = torch.get_num_threads()
        info["machine"]["raft_device"] = args.device
    except ImportError:
        skip |= {"raft-small", "raft-large"}

    def make(name: str, backend: str, opts: dict[str, Any], weights: str | None = None) -> Any:
        if backend.startswith("raft"):
            opts = {**opts, "weights": weights, "iters": args.raft_iters, "device": args.device}
        return create_flow_backend(backend, **opts)

    # ---- speed -----------------------------------------------------------------------------------
    speed: dict[str, dict[str, Any]] = {}
    for size_text in args.sizes.split(","):
        h, w = (int(v) for v in size_text.lower().split("x"))
        frames = make_textured_video(frames=6, size=(h, w), objects=4, motion="affine", seed=0).images
        row: dict[str, Any] = {}
        for name, backend, opts in SETTINGS:
            if name in skip:
                continue
            best, median, n = time_pairs(
                make(name, backend, opts), frames, args.min_time, args.min_pairs, args.max_pairs
            )
            row[name] = {
                "pairs_per_s": round(1000 / best, 3),
                "ms_per_pair_best": round(best, 1),
                "ms_per_pair_median": round(median, 1),
                "pairs_timed": n,
            }
        if "dis-medium" in row:
            ref = row["dis-medium"]["pairs_per_s"]
            for r in row.values():
                r["speed_vs_dis_medium"] = round(r["pairs_per_s"] / ref, 3)
        speed[size_text] = row
    info["speed"] = speed

    # ---- accuracy --------------------------------------------------------------------------------
    eh, ew = (int(v) for v in args.epe_size.lower().split("x"))
    clips = [
        make_textured_video(
            frames=6, size=(eh, ew), objects=3, motion=motion, min_speed=1.0, max_speed=4.0, seed=s
        )
        for s in range(args.clips)
        for motion in ("translate", "affine")
    ]
    weights = {"raft-small": args.raft_small_weights, "raft-large": args.raft_large_weights}
    pairs = [(v, t) for v in clips for t in range(len(v) - 1)]

    def scores(flows: list[np.ndarray]) -> dict[str, float]:
        """Mean EPE over all pixels, non-occluded pixels, and non-occluded object pixels."""
        out: dict[str, list[float]] = {"epe_all": [], "epe_noc": [], "epe_objects_noc": []}
        for (v, t), f in zip(pairs, flows, strict=True):
            g, valid = v.flow(t, t + 1), v.valid(t, t + 1)
            out["epe_all"].append(end_point_error(f, g))
            out["epe_noc"].append(end_point_error(f, g, valid))
            out["epe_objects_noc"].append(end_point_error(f, g, valid & (v.labels[t] > 0)))
        return {key: round(float(np.mean(vals)), 4) for key, vals in out.items()}

    zero = scores([np.zeros((2, eh, ew), np.float32) for _ in pairs])
    epe: dict[str, Any] = {"zero-flow (reference)": zero}
    for name, backend, opts in SETTINGS:
        if name in skip:
            continue
        if backend.startswith("raft") and weights[name] is None:
            epe[name] = {
                "note": "accuracy needs pretrained weights (--raft-small-weights / --raft-large-weights)"
            }
            continue
        b = make(name, backend, opts, weights.get(name))
        res: dict[str, Any] = scores([b(v.images[t], v.images[t + 1]) for v, t in pairs])
        res["objects_vs_zero_flow"] = round(res["epe_objects_noc"] / zero["epe_objects_noc"], 4)
        epe[name] = res
    info["epe"] = {
        "fixture": (
            f"{len(clips)} clips of 6 frames at {eh}x{ew}, 3 objects at 1-4 px/frame relative to a background "
            f"panning at up to 0.5 px/frame, translate and affine, seeds 0..{args.clips - 1}"
        ),
        "pairs": len(pairs),
        "results": epe,
    }
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
