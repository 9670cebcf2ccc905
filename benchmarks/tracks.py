"""Speed and accuracy of the default point tracker (flow-chain on DIS flow) on this machine.

* **Speed**: tracks per second of ``flow-chain`` with LRTL's settings (stride 4, window 20 with
  reflection padding, box filter 11) at 128x224 (GWM's training resolution), tracking the query grid
  of every frame of a textured fixture clip, as :func:`spelke.motion.compute_tracks` does: once with
  DIS flow computed on the fly (each pair once, as the job does), once with the flow already in memory
  (the chaining alone, i.e. reading from the flow cache). The reference measured in the same run is
  computing the clip's DIS flows alone; the ratio says what tracking adds to the flow.
* **Accuracy**: against the exact tracks of the textured-motion fixture (:mod:`spelke.synth.textured_motion`):
  median position error where both agree the point is visible, share of samples whose visibility agrees,
  share of occluded samples marked invisible, share of visible samples lost too early; with the exact
  flow (the chaining's own error) and with DIS flow. Smoothing is off for accuracy (the box filter moves
  positions near reflections, which the fixture's tracks do not model).

Prints JSON.

    .venv/bin/python benchmarks/tracks.py [--size 128x224] [--frames 24] [--window 20] [--stride 4] [--clips 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import numpy as np

from spelke.motion import create_flow_backend
from spelke.motion.tracks import FlowSource, create_tracker
from spelke.synth.textured_motion import make_textured_video


def _clip(size: tuple[int, int], frames: int, seed: int, motion: str = "translate") -> Any:
    return make_textured_video(
        frames=frames, size=size, objects=3, motion=motion, min_speed=1.0, max_speed=3.0, seed=seed
    )


def speed(size: tuple[int, int], frames: int, window: int, stride: int) -> dict[str, Any]:
    video = _clip(size, frames, seed=0)
    dis = create_flow_backend("dis")
    dis(video.images[0], video.images[1])  # warm-up
    t0 = time.perf_counter()
    flows = {}
    for t in range(frames - 1):
        flows[(t, 1)] = dis(video.images[t], video.images[t + 1])
        flows[(t + 1, -1)] = dis(video.images[t + 1], video.images[t])
    t_flow = time.perf_counter() - t0

    tracker = create_tracker("flow-chain", stride=stride, window=window)
    t0 = time.perf_counter()
    out = tracker.track_video(video.images)  # DIS on the fly, each pair once (FlowSource memory)
    t_total = time.perf_counter() - t0
    n_tracks = sum(len(tr) for tr in out)

    t0 = time.perf_counter()
    cached = tracker.track_video(video.images, flows=lambda t, g: flows[(t, g)])
    t_chain = time.perf_counter() - t0
    assert sum(len(tr) for tr in cached) == n_tracks
    return {
        "size": list(size),
        "frames": frames,
        "tracks_per_query_frame": n_tracks // frames,
        "rows_per_track": int(out[0].xy.shape[0]),
        "flow_pairs": 2 * (frames - 1),
        "dis_flow_only_seconds": round(t_flow, 3),
        "flow_chain_with_dis_seconds": round(t_total, 3),
        "flow_chain_with_dis_tracks_per_s": round(n_tracks / t_total, 1),
        "flow_chain_with_dis_query_frames_per_s": round(frames / t_total, 2),
        "flow_chain_cached_flow_seconds": round(t_chain, 3),
        "flow_chain_cached_flow_tracks_per_s": round(n_tracks / t_chain, 1),
        "ratio_total_to_dis_flow_only": round(t_total / t_flow, 2),
    }


def accuracy(size: tuple[int, int], frames: int, window: int, stride: int, clips: int) -> dict[str, Any]:
    rows: dict[str, dict[str, list[np.ndarray]]] = {"exact": {}, "dis": {}}
    for seed in range(clips):
        for motion in ("translate", "affine"):
            video = _clip(size, frames, seed, motion)
            sources = {
                "exact": lambda t, g, v=video: v.flow(t, t + g),
                "dis": FlowSource.from_backend("dis", video.images),
            }
            tracker = create_tracker("flow-chain", stride=stride, window=window, padding="none", smooth=0)
            for name, flows in sources.items():
                acc = rows[name]
                for q in range(0, frames, max(1, frames // 4)):
                    tr = tracker.track(video.images, q, flows=flows)
                    gxy, gvis = video.tracks(q, stride)
                    gxy, gvis = gxy[tr.frames], gvis[tr.frames]
                    acc.setdefault("err", []).append(np.linalg.norm(tr.xy - gxy, axis=-1).ravel())
                    acc.setdefault("ours", []).append(tr.vis.ravel())
                    acc.setdefault("true", []).append(gvis.ravel())
    result = {}
    for name, acc in rows.items():
        err, ours, true = (np.concatenate(acc[k]) for k in ("err", "ours", "true"))
        both = ours & true
        result[name] = {
            "median_error_px_both_visible": round(float(np.median(err[both])), 4),
            "mean_error_px_both_visible": round(float(np.mean(err[both])), 4),
            "mean_error_px_all_samples": round(float(np.mean(err)), 4),
            "visibility_agreement": round(float(np.mean(ours == true)), 4),
            "occluded_marked_invisible": round(float(np.mean(~ours[~true])), 4),
            "visible_lost_early": round(float(np.mean(~ours[true])), 4),
            "samples": int(err.size),
        }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="128x224", help="HxW")
    ap.add_argument("--frames", type=int, default=24, help="frames of the speed clip")
    ap.add_argument("--window", type=int, default=20, help="frames on each side (LRTL: 20)")
    ap.add_argument("--stride", type=int, default=4, help="query grid stride (LRTL: 4)")
    ap.add_argument(
        "--clips", type=int, default=2, help="fixture seeds for accuracy (each translate + affine)"
    )
    ap.add_argument("--accuracy-frames", type=int, default=10, help="frames of the accuracy clips")
    ap.add_argument("--skip-accuracy", action="store_true")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.lower().split("x"))

    import cv2

    info: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "opencv": cv2.__version__,
            "opencv_threads": cv2.getNumThreads(),
        },
        "tracker": f"flow-chain (stride {args.stride}, window {args.window}, reflect, box 11, DIS medium)",
        "speed": speed((h, w), args.frames, args.window, args.stride),
    }
    if not args.skip_accuracy:
        info["accuracy"] = accuracy(
            (h, w), args.accuracy_frames, args.accuracy_frames - 1, args.stride, args.clips
        )
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
