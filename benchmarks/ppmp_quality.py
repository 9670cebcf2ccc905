"""Quality of PPMP trained on Moving ClevrTex with the CPU preset, beside baselines, on held-out clips and
ClevrTex stills (thesis Table 4.1 in miniature), and the translation-vs-affine comparison (Table 4.3b).

Trains on one generated Moving ClevrTex tree (ground-truth flow), segments the held-out clips of another
tree (``movi`` protocol: FG-ARI and mIoU per frame against **all** objects) and ClevrTex still images of
each variant under ``--stills`` (``clevrtex`` protocol, every image: ``split=all``), with and without the
connected-component post-processing (†). Baselines: the same network untrained; K-means (k = 6) on the
held-out frames' flow (it **sees flow at test time**); K-means (k = 6) on colour and position.

Prints one JSON object and writes it, with a Markdown table, under ``--out``.

    .venv/bin/python benchmarks/ppmp_quality.py --train data/mct96_train --test data/mct96_test \\
        --stills data/ctx96 --out runs/ppmp-results --seeds 0 --models affine translation
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from spelke.data import create_dataset
from spelke.data.io import write_json, write_label_map
from spelke.engine.checkpoint import make_header, save_weights
from spelke.engine.trainer import summarise_seeds, train
from spelke.eval.protocols import create_protocol
from spelke.methods.registry import create_method
from spelke.methods.segment import segment, segment_stills

K_BASELINE = 6


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def variants(stills: Path | None) -> list[str]:
    if stills is None:
        return []
    return sorted(p.name.removeprefix("clevrtex_") for p in stills.glob("clevrtex_*") if p.is_dir())


def score(run: Path, test: Path, stills: Path | None, raw: bool = True) -> dict[str, float]:
    row: dict[str, float] = {}
    for tag, pred in (("", run / "predictions"), ("raw_", run / "predictions-raw")):
        if tag and (not raw or not pred.is_dir()):
            continue
        s = create_protocol("movi").evaluate(pred, test, split="all").summary
        row[f"{tag}clips_fg_ari"], row[f"{tag}clips_miou"] = s["fg_ari"], s["miou"]
    for v in variants(stills):
        pred = run / f"stills-{v}"
        s = create_protocol("clevrtex").evaluate(pred, stills, split="all", variant=v).summary
        row[f"{v}_fg_ari"], row[f"{v}_miou"] = s["fg_ari"], s["miou"]
    return row


def segment_all(weights: Path, run: Path, test: Path, stills: Path | None, overlays: bool) -> None:
    segment(weights, test, run, overlays=overlays)
    for v in variants(stills):
        ds = create_dataset("clevrtex", root=stills, split=None, variant=v)
        segment_stills(weights, ds, run / f"stills-{v}", overlays=8 if overlays else 0)


def run_ppmp(model: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    run = args.out / f"ppmp-{model}" / f"seed{seed}"
    over = ["flow_backend=gt", f"motion_model={model}", *args.set]
    m = create_method("ppmp", "cpu", over)
    res = train(m, create_dataset("moving-clevrtex", root=args.train), run, seed=seed, progress=False)
    segment_all(res.weights, run, args.test, args.stills, overlays=seed == args.seeds[0])
    row = score(run, args.test, args.stills)
    row.update({"train_s": round(res.seconds, 1), "steps": res.steps})
    log(f"  ppmp {model} seed {seed}: {row}")
    return row


def untrained(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    m = create_method("ppmp", "cpu", ["flow_backend=gt", *args.set])
    torch.manual_seed(seed)
    run = args.out / "untrained" / f"seed{seed}"
    w = save_weights(
        run / "checkpoints" / "final.pt",
        make_header("ppmp", m.model_name, m.config_dict()),
        m.build_model().state_dict(),
    )
    segment_all(w, run, args.test, args.stills, overlays=False)
    return score(run, args.test, args.stills)


def kmeans_baselines(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    from spelke.data.datasets.flow_access import cached_flow
    from spelke.methods.baselines import kmeans_colour_position, kmeans_flow

    ds = create_dataset("moving-clevrtex", root=args.test)
    rows: dict[str, dict[str, float]] = {}
    for name in ("kmeans-flow", "kmeans-colour"):
        run = args.out / name
        for seq in ds.sequences:
            names = ds.frame_names(seq)
            for i, n in enumerate(names):
                if name == "kmeans-flow":
                    f = cached_flow(args.test, seq, n, i, 1 if i + 1 < len(names) else -1, "gt")
                    lab = kmeans_flow(f, K_BASELINE, 0)
                else:
                    lab = kmeans_colour_position(ds.image(seq, i), K_BASELINE, seed=0)
                write_label_map(run / "predictions" / seq / f"{n}.png", lab + 1)
        if name == "kmeans-colour":
            for v in variants(args.stills):
                sds = create_dataset("clevrtex", root=args.stills, split=None, variant=v)
                for i, n in enumerate(sds.names):
                    lab = kmeans_colour_position(sds.image(i), K_BASELINE, seed=0)
                    write_label_map(run / f"stills-{v}" / "predictions" / f"{n}.png", lab + 1)
            rows[f"K-means colour+position (k={K_BASELINE})"] = score(run, args.test, args.stills, raw=False)
        else:
            s = create_protocol("movi").evaluate(run / "predictions", args.test, split="all").summary
            rows[f"K-means on flow (k={K_BASELINE}, sees test-time flow)"] = {
                "clips_fg_ari": s["fg_ari"],
                "clips_miou": s["miou"],
            }
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--test", type=Path, required=True)
    ap.add_argument("--stills", type=Path, default=None, help="a root holding clevrtex_<variant>/ folders")
    ap.add_argument("--out", type=Path, default=Path("runs/ppmp-results"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--models", nargs="+", default=["affine", "translation"])
    ap.add_argument("--set", nargs="*", default=[], help="extra config overrides for every trained run")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    results: dict[str, Any] = {
        "train": str(args.train),
        "test": str(args.test),
        "stills": str(args.stills),
        "variants": variants(args.stills),
        "seeds": args.seeds,
        "set": args.set,
        "rows": {},
    }
    rows = results["rows"]

    def multi(label: str, fn) -> None:
        per_seed = [fn(s) for s in args.seeds]
        rows[label] = {"per_seed": per_seed, **summarise_seeds(per_seed)}
        write_json(args.out / "results.json", results)

    multi("untrained network", lambda s: untrained(s, args))
    rows.update(kmeans_baselines(args))
    for model in args.models:
        multi(f"PPMP, {model} model", lambda s, m=model: run_ppmp(m, s, args))
    results["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(args.out / "results.json", results)
    (args.out / "results.md").write_text(markdown(results))
    print(json.dumps(results, indent=1, default=float))


def markdown(results: dict[str, Any]) -> str:
    cols = [("clips_fg_ari", "clips FG-ARI"), ("clips_miou", "clips mIoU")]
    cols += [("raw_clips_fg_ari", "clips FG-ARI (no †)"), ("raw_clips_miou", "clips mIoU (no †)")]
    for v in results["variants"]:
        cols += [(f"{v}_fg_ari", f"{v} FG-ARI"), (f"{v}_miou", f"{v} mIoU")]
    lines = ["| method | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for label, r in results["rows"].items():

        def cell(k: str, r: dict[str, Any] = r) -> str:
            v = r.get(k)
            if isinstance(v, dict):
                return (
                    f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}"
                    if v.get("n", 1) > 1
                    else f"{100 * v['mean']:.1f}"
                )
            return f"{100 * v:.1f}" if isinstance(v, float) and not np.isnan(v) else "–"

        lines.append(f"| {label} | " + " | ".join(cell(k) for k, _ in cols) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
