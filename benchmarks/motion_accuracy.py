"""Accuracy of spelke's flow backends and of the default point tracker on rendered Moving ClevrTex.

Generates (or reuses: generation is resumable) a small Moving ClevrTex set with
:func:`spelke.synth.moving.generate_videos` and measures, against its exact ground truth:

* **Flow**: for each CPU backend (DIS ultrafast / fast / medium, medium from full resolution,
  Farnebäck; zero flow as a reference), for gaps 1, -1 and 2, the mean end-point error (EPE) in pixels
  over all pixels, over object pixels (instance id > 0 in the source frame) and over moving-object
  pixels (objects whose pose changes between the two frames: the union of ``meta["moving"][k]`` for
  the frames ``k`` the pair spans), and
  the Fl outlier rate of KITTI 2015 (EPE > 3 px and > 5 % of the true flow's length) over the same sets.
  Errors are pooled over the pixels of every pair of every clip (not averaged per pair). The ground
  truth is the generator's exact rigid flow (``flows/gt``; :func:`~spelke.synth.moving.flow_between`
  for a gap not cached). RAFT is left out: it has no pretrained weights offline, and random weights
  say nothing about accuracy.
* **Tracks**: the ``flow-chain`` tracker on each backend's flow, with its default checks
  (forward-backward, photometric 0.05, ``after_loss="velocity"``) but **without reflection padding and
  without smoothing** (``padding="none", smooth=0``): query frame 0 on the stride-4 grid, followed
  through the whole clip (``window = frames - 1``). Reflection padding would only repeat rows (the
  query frame is the first one), and the width-11 box filter over a 12-frame clip would blur the
  chaining error we measure; one extra row shows the filter's effect. The reference tracks are
  **exact, not integrated**: each query point (at a pixel centre) is unprojected with frame 0's depth,
  moved by its object's rigid transform from frame 0 to frame t and projected (the geometry of
  :func:`~spelke.synth.moving.flow_between`, i.e. ``q + flow_between(0, t)(q)``, checked against it);
  it is visible at frame t when it projects inside the frame onto a pixel of the same instance whose
  rendered depth is not in front of it by more than 1 %. A row "exact flow, chained" runs the same
  tracker on the exact frame-to-frame flow: the chaining's own error. Reported over the samples of
  frames 1..F-1 (the query row is left out): median and mean position error and the shares within
  1 px and 3 px where both say the point is visible, visibility agreement over all samples, the share
  of truly hidden samples marked invisible and of truly visible ones lost; for all points and for the
  points on objects that move during the clip.

Prints one JSON object (the data folder and progress go to stderr).

    .venv/bin/python benchmarks/motion_accuracy.py [--data DIR] [--num 4] [--frames 12] [--size 128x128]
        [--samples 16] [--seed 0] [--camera-rotation 0]

``--camera-rotation DEG`` renders the clips with a turning camera (docs/synth.md); the exact tracks
then follow each frame's camera.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from spelke.data import create_dataset
from spelke.motion import create_flow_backend
from spelke.motion.tracks import create_tracker, query_grid
from spelke.synth.moving import (
    VideoConfig,
    clip_cameras,
    flow_between,
    generate_videos,
    is_finished,
    sequence_name,
)
from spelke.synth.outputs import read_depth

#: The flow backends compared (name, options); zero flow is added as a reference.
BACKENDS: dict[str, tuple[str, dict[str, Any]]] = {
    "dis ultrafast": ("dis", {"preset": "ultrafast"}),
    "dis fast": ("dis", {"preset": "fast"}),
    "dis medium": ("dis", {"preset": "medium"}),
    # the medium preset starts at half resolution (finest scale 1); small frames lose detail there
    "dis medium, finest_scale=0": ("dis", {"preset": "medium", "finest_scale": 0}),
    "farneback": ("farneback", {}),
}
FLOW_GAPS = (1, -1, 2)
MASKS = ("all", "objects", "moving")
#: Relative depth tolerance of the reference tracks' visibility test.
DEPTH_TOL = 0.01


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


def make_data(
    out: Path,
    num: int,
    frames: int,
    size: tuple[int, int],
    samples: int,
    seed: int,
    camera_rotation: float = 0.0,
) -> list[str]:
    config = VideoConfig(
        dataset="moving-clevrtex",
        num=num,
        frames=frames,
        size=size,
        samples=samples,
        seed=seed,
        camera_rotation=camera_rotation,
    )
    todo = [i for i in range(num) if not is_finished(out, sequence_name(i))]
    t0 = time.perf_counter()
    if todo:
        log(f"rendering {len(todo)} of {num} clips into {out} ...")
        generate_videos(
            config, out, progress=lambda n, k, what: log(f"  {n}/{k} {what} {time.perf_counter() - t0:.0f} s")
        )
    else:
        generate_videos(config, out)  # checks the manifest, renders nothing
    return [sequence_name(i) for i in range(num)]


def _transforms(meta: dict[str, Any]) -> np.ndarray:
    """(F, K+1, 4, 4) world-from-object matrices, row 0 (the static background) the identity."""
    mats = np.asarray(meta["transforms"], dtype=np.float64)
    eye = np.tile(np.eye(4), (mats.shape[0], 1, 1, 1))
    return np.concatenate([eye, mats], axis=1)


def moving_ids(meta: dict[str, Any], t0: int, t1: int) -> list[int]:
    """Ids of the objects whose pose changes somewhere between frames ``t0`` and ``t1``."""
    lo, hi = min(t0, t1), max(t0, t1)
    return sorted({i for k in range(lo, hi) for i in meta["moving"][k]})


def exact_tracks(
    root: Path, ds: Any, seq: str, meta: dict[str, Any], query_frame: int, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact positions ``(F, N, 2)`` (pixel centres at integers), visibility ``(F, N)`` and instance ids
    ``(N,)`` of the stride grid of ``query_frame``, from depth, instance maps and rigid transforms."""
    n = int(meta["num_frames"])
    size = tuple(int(v) for v in meta["image_size"])
    h, w = size
    cams, mats = clip_cameras(meta), _transforms(meta)  # the camera of every frame (it may turn)
    depth = [read_depth(root / "Depth" / seq / f"{t:05d}.png") for t in range(n)]
    inst = [ds.labels(seq, t) for t in range(n)]
    p = query_grid(size, stride).astype(np.float64)
    xi, yi = p[:, 0].astype(np.int64), p[:, 1].astype(np.int64)
    d0, ids = depth[query_frame][yi, xi].astype(np.float64), inst[query_frame][yi, xi]
    hit = np.isfinite(d0)
    # the camera model's pixel centres sit at +0.5
    world = cams[query_frame].unproject(p + 0.5, np.where(hit, d0, 1.0), size)
    xy = np.zeros((n, len(p), 2))
    vis = np.zeros((n, len(p)), bool)
    for t in range(n):
        motion = mats[t] @ np.linalg.inv(mats[query_frame])
        motion[0] = np.eye(4)
        m = motion[ids]
        moved = np.einsum("nij,nj->ni", m[:, :3, :3], world) + m[:, :3, 3]
        uv, z = cams[t].project(moved, size)
        pos = np.where(hit[:, None], uv - 0.5, p)
        inside = (pos[:, 0] >= 0) & (pos[:, 0] <= w - 1) & (pos[:, 1] >= 0) & (pos[:, 1] <= h - 1)
        tx = np.clip(np.rint(pos[:, 0]).astype(np.int64), 0, w - 1)
        ty = np.clip(np.rint(pos[:, 1]).astype(np.int64), 0, h - 1)
        dt = depth[t][ty, tx].astype(np.float64)
        same = inst[t][ty, tx] == ids
        front = np.where(hit, z <= dt * (1 + DEPTH_TOL), ~np.isfinite(dt))
        xy[t], vis[t] = pos, inside & same & front
    # The same geometry as flow_between: check one frame against it.
    t_chk = n - 1 if query_frame != n - 1 else 0
    f = flow_between(root, seq, query_frame, t_chk)
    ref = p + f[:, yi, xi].T
    err = np.abs(ref - xy[t_chk]).max()
    if err > 1e-3:
        raise AssertionError(f"exact tracks disagree with flow_between by {err:.2g} px in {seq}")
    return xy, vis, ids


# --------------------------------------------------------------------------------------------------
# Flow accuracy
# --------------------------------------------------------------------------------------------------


class FlowStats:
    """Pooled end-point errors and Fl outliers over the masks of many pairs."""

    def __init__(self) -> None:
        self.sum = dict.fromkeys(MASKS, 0.0)
        self.count = dict.fromkeys(MASKS, 0)
        self.outliers = dict.fromkeys(MASKS, 0)
        self.pairs = 0

    def add(self, flow: np.ndarray, gt: np.ndarray, masks: dict[str, np.ndarray]) -> None:
        err = np.sqrt(((flow.astype(np.float64) - gt) ** 2).sum(0))
        mag = np.sqrt((gt.astype(np.float64) ** 2).sum(0))
        out = (err > 3.0) & (err > 0.05 * mag)
        for k, m in masks.items():
            self.sum[k] += float(err[m].sum())
            self.count[k] += int(m.sum())
            self.outliers[k] += int(out[m].sum())
        self.pairs += 1

    def result(self) -> dict[str, Any]:
        r: dict[str, Any] = {}
        for k in MASKS:
            c = self.count[k]
            r[f"epe_{k}"] = round(self.sum[k] / c, 4) if c else None
            r[f"fl_{k}_percent"] = round(100.0 * self.outliers[k] / c, 3) if c else None
            r[f"pixels_{k}"] = c
        r["pairs"] = self.pairs
        return r


def gt_flow(ds: Any, root: Path, seq: str, t: int, gap: int) -> np.ndarray:
    f = ds.flow(seq, t, gap)
    return f if f is not None else flow_between(root, seq, t, t + gap)


def flow_accuracy(
    ds: Any, root: Path, seqs: list[str], flows: dict[str, dict[str, Callable[[int, int], np.ndarray]]]
) -> dict[str, Any]:
    stats = {g: {name: FlowStats() for name in ["zero flow", *BACKENDS]} for g in FLOW_GAPS}
    magnitude = {g: [] for g in FLOW_GAPS}
    for seq in seqs:
        meta = ds.meta(seq)
        n = int(meta["num_frames"])
        labels = [ds.labels(seq, t) for t in range(n)]
        for g in FLOW_GAPS:
            for t in range(n):
                if not 0 <= t + g < n:
                    continue
                gt = gt_flow(ds, root, seq, t, g)
                inst = labels[t]
                masks = {
                    "all": np.ones(inst.shape, bool),
                    "objects": inst > 0,
                    "moving": np.isin(inst, moving_ids(meta, t, t + g)),
                }
                magnitude[g].append(np.sqrt((gt**2).sum(0))[masks["moving"]])
                stats[g]["zero flow"].add(np.zeros_like(gt), gt, masks)
                for name in BACKENDS:
                    stats[g][name].add(flows[seq][name](t, g), gt, masks)
    out: dict[str, Any] = {}
    for g in FLOW_GAPS:
        mags = np.concatenate(magnitude[g]) if magnitude[g] else np.zeros(0)
        out[f"gap {g}"] = {
            "true_flow_moving_px": {
                "mean": round(float(mags.mean()), 3) if mags.size else None,
                "median": round(float(np.median(mags)), 3) if mags.size else None,
                "max": round(float(mags.max()), 3) if mags.size else None,
            },
            "backends": {name: s.result() for name, s in stats[g].items()},
        }
    return out


# --------------------------------------------------------------------------------------------------
# Track accuracy
# --------------------------------------------------------------------------------------------------


def track_stats(err: np.ndarray, ours: np.ndarray, true: np.ndarray) -> dict[str, Any]:
    both = ours & true
    e = err[both]

    def share(x: np.ndarray) -> float | None:
        return round(float(np.mean(x)), 4) if x.size else None

    return {
        "median_error_px": round(float(np.median(e)), 4) if e.size else None,
        "mean_error_px": round(float(np.mean(e)), 4) if e.size else None,
        "within_1px": share(e <= 1.0),
        "within_3px": share(e <= 3.0),
        "visibility_agreement": share(ours == true),
        "hidden_marked_invisible": share(~ours[~true]),
        "visible_lost": share(~ours[true]),
        "samples": int(err.size),
        "both_visible": int(both.sum()),
        "truly_hidden": int((~true).sum()),
    }


def track_accuracy(
    ds: Any,
    root: Path,
    seqs: list[str],
    flows: dict[str, dict[str, Callable[[int, int], np.ndarray]]],
    stride: int,
    query_frame: int = 0,
) -> dict[str, Any]:
    variants: list[tuple[str, str, dict[str, Any]]] = [("exact flow, chained", "exact", {})]
    variants += [(name, name, {}) for name in BACKENDS]
    variants += [
        ("dis medium, photometric=0 (forward-backward only)", "dis medium", {"photometric": 0.0}),
        ("dis medium, smooth=11 (LRTL's box filter)", "dis medium", {"smooth": 11}),
    ]
    acc: dict[str, dict[str, list[np.ndarray]]] = {v[0]: {} for v in variants}
    n_points = 0
    for seq in seqs:
        meta = ds.meta(seq)
        n = int(meta["num_frames"])
        images = np.stack([ds.image(seq, t) for t in range(n)])
        gxy, gvis, ids = exact_tracks(root, ds, seq, meta, query_frame, stride)
        movers = np.isin(ids, moving_ids(meta, 0, n - 1))
        n_points += len(ids)
        for label, source, options in variants:
            opts = {"stride": stride, "window": n - 1, "padding": "none", "smooth": 0, **options}
            tracker = create_tracker("flow-chain", **opts)
            tr = tracker.track(images, query_frame, flows=flows[seq][source])
            rows = tr.frames != query_frame
            err = np.linalg.norm(tr.xy - gxy[tr.frames], axis=-1)[rows]
            ours, true = tr.vis[rows], gvis[tr.frames][rows]
            a = acc[label]
            for subset, sel in (("all points", slice(None)), ("moving-object points", movers)):
                for key, arr in (("err", err), ("ours", ours), ("true", true)):
                    a.setdefault(f"{subset}/{key}", []).append(arr[:, sel].ravel())
    out: dict[str, Any] = {"query_points": n_points}
    for label, a in acc.items():
        out[label] = {}
        for subset in ("all points", "moving-object points"):
            err, ours, true = (np.concatenate(a[f"{subset}/{k}"]) for k in ("err", "ours", "true"))
            out[label][subset] = track_stats(err, ours, true)
    return out


# --------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="dataset folder (default: a new temporary one)")
    ap.add_argument("--num", type=int, default=4, help="clips")
    ap.add_argument("--frames", type=int, default=12, help="frames per clip")
    ap.add_argument("--size", default="128x128", help="HxW")
    ap.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stride", type=int, default=4, help="query grid stride of the tracks (LRTL: 4)")
    ap.add_argument(
        "--camera-rotation",
        type=float,
        default=0.0,
        help="the camera turns up to this many degrees per frame",
    )
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.lower().split("x"))
    data = args.data or Path(tempfile.mkdtemp(prefix="spelke-motion-accuracy-"))
    log(f"data: {data}")
    t0 = time.perf_counter()
    seqs = make_data(data, args.num, args.frames, (h, w), args.samples, args.seed, args.camera_rotation)
    t_data = time.perf_counter() - t0
    ds = create_dataset("moving-clevrtex", root=data)

    t0 = time.perf_counter()
    flows: dict[str, dict[str, Callable[[int, int], np.ndarray]]] = {}
    for seq in seqs:
        n = ds.num_frames(seq)
        images = [ds.image(seq, t) for t in range(n)]
        flows[seq] = {"exact": lambda t, g, s=seq: gt_flow(ds, data, s, t, g)}
        for name, (backend, options) in BACKENDS.items():
            fb = create_flow_backend(backend, **options)
            memo = {
                (t, g): fb(images[t], images[t + g])
                for g in (*FLOW_GAPS, -2)
                for t in range(n)
                if 0 <= t + g < n
            }
            flows[seq][name] = lambda t, g, m=memo: m[(t, g)]
    t_flow = time.perf_counter() - t0
    log("flow computed; measuring")

    import cv2

    meta0 = ds.meta(seqs[0])
    result: dict[str, Any] = {
        "data": str(data),
        "dataset": {
            "clips": len(seqs),
            "frames": args.frames,
            "size": [h, w],
            "samples": args.samples,
            "seed": args.seed,
            "camera_rotation": args.camera_rotation,
            "scenarios": [ds.meta(s)["scenario"] for s in seqs],
            "objects": [len(ds.meta(s)["objects"]) for s in seqs],
            "moving_objects": [len(moving_ids(ds.meta(s), 0, args.frames - 1)) for s in seqs],
            "generator_version": meta0["generator"]["version"],
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "opencv": cv2.__version__,
        },
        "seconds": {"data": round(t_data, 1), "flow": round(t_flow, 1)},
        "not_measured": {
            "raft-small, raft-large": "no pretrained weights offline (random weights say nothing)"
        },
        "flow": flow_accuracy(ds, data, seqs, flows),
        "tracks": {
            "setup": (
                f"flow-chain, query frame 0, stride {args.stride}, window {args.frames - 1}, padding none, "
                "smooth 0 (unless stated), default checks; reference: exact rigid-body positions"
            ),
            **track_accuracy(ds, data, seqs, flows, args.stride),
        },
    }
    print(json.dumps(result, indent=2))
    # Blender (bpy) reports its leaked memory blocks on stdout when the interpreter exits: send it to
    # stderr so that stdout holds the JSON object alone.
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())


if __name__ == "__main__":
    main()
