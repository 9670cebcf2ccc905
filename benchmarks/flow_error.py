"""End-point error of cached flow against a generated tree's exact flow, and the objects' own motion.

For a Moving ClevrTex tree written by ``spelke generate`` (exact flow in ``flows/gt``) and flow caches
written by ``spelke flow``: the mean end-point error (pixels) of each backend at one gap, averaged over
frames, over all pixels and over the pixels of the moving objects (``AnnotationsMoving/``); and, for
scale, the median of the moving objects' own motion (per object and frame, the median magnitude of
the exact flow with the camera held still, :func:`spelke.synth.moving.flow_between`).

Prints one JSON object.

    .venv/bin/python benchmarks/flow_error.py --root data/mctcam96_test --backends dis dis-fs0 farneback
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from spelke.data.flow_io import read_flo
from spelke.data.io import read_json, read_label_map
from spelke.synth.moving import flow_between, flow_path
from spelke.synth.moving_gt import object_displacements


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True, help="a tree from spelke generate moving-clevrtex")
    ap.add_argument("--backends", nargs="+", default=["dis"], help="flow caches under ROOT/flows/")
    ap.add_argument("--gap", type=int, default=1)
    args = ap.parse_args()
    root = args.root
    seqs = sorted(p.stem for p in (root / "meta").glob("*.json"))
    if not seqs:
        raise SystemExit(f"{root}/meta has no clips: is it a tree written by spelke generate?")
    errors: dict[str, dict[str, list[float]]] = {b: {"all": [], "moving": []} for b in args.backends}
    own: list[float] = []
    for seq in seqs:
        n = int(read_json(root / "meta" / f"{seq}.json")["num_frames"])
        for t in range(n):
            if not 0 <= t + args.gap < n:
                continue
            gt = read_flo(flow_path(root, args.gap, seq, t))
            moving = read_label_map(root / "AnnotationsMoving" / seq / f"{t:05d}.png")
            still = flow_between(root, seq, t, t + args.gap, camera="fixed")
            own.extend(object_displacements(moving, still).values())
            for b in args.backends:
                path = flow_path(root, args.gap, seq, t, backend=b)
                if not path.is_file():
                    raise SystemExit(f"{path} is missing: run spelke flow --root {root} --backend ... first")
                err = np.hypot(*(read_flo(path) - gt))
                errors[b]["all"].append(float(err.mean()))
                if (moving > 0).any():
                    errors[b]["moving"].append(float(err[moving > 0].mean()))
    result = {
        "root": str(root),
        "gap": args.gap,
        "clips": len(seqs),
        "moving_objects_own_motion_px": {"median": float(np.median(own)), "count": len(own)},
        "epe_px": {b: {k: round(float(np.mean(v)), 4) for k, v in e.items()} for b, e in errors.items()},
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
