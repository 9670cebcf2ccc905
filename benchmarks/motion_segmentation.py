"""Quality of GWM and LRTL trained on Moving ClevrTex with the CPU presets, beside simple baselines.

Trains on one generated Moving ClevrTex tree and scores held-out clips of another (generated with a
different seed), with the ``davis2016`` protocol on the moving objects' masks
(``AnnotationsMoving/``, written by :func:`spelke.synth.moving_gt.write_moving_annotations`):

* **J (fg by rule)**: the binary prediction of ``spelke segment`` (K components merged to two by the
  spectral cut of thesis eq. 3.6 on colour features, the foreground chosen by the border rule, no ground
  truth); frame mean over every frame of every held-out clip.
* **J (GT-matched)**: the better of the two merged clusters per frame (``davis2016-oracle-gwm`` on
  ``predictions-merged``), the papers' protocol (GWM's code, LRTL's Hungarian matching).
* **J (all objects)**: the binary prediction against every object (``Annotations/``). Only pushed
  objects move in Moving ClevrTex, and static objects look like moving ones, so a single-frame network
  cannot tell which will move: it can only learn what *could* move (GWM's premise). This column scores
  that; the first scores motion segmentation.

Rows, each over ``--seeds`` (mean and sample standard deviation):

* ``gwm``: GWM, preset ``cpu``, trained on each flow in ``--flows`` (``gt``: rendered; ``dis``: DIS);
* ``lrtl``: LRTL, preset ``cpu``, with flow-chain tracks made from the same flow;
* ``+ test-time adaptation`` (``--tta N``, default 20): the same checkpoint after N steps of its own loss
  on each held-out clip's flow (GWM App. C.3.1), then segmented the same way;
* ``untrained``: the ``cpu`` U-Net with random weights, through the same merge;
* ``flow-threshold`` / ``kmeans-flow``: Otsu threshold of the median-subtracted flow magnitude, and
  two-cluster K-means on flow — both **see flow at test time** (the networks see one RGB frame);
* ``flow-threshold, quadratic camera removed``: the same threshold after subtracting GWM's quadratic
  motion model fitted robustly to the whole frame (a hand-made camera compensation; it also sees flow);
* ablations (``--ablations``, or ``--ablations-only``): GWM with the quadratic vs the constant motion
  model (Table 3.2), and LRTL with all terms vs the flow term only (Table 5.4), each pair trained the same
  way (``--set`` applies a smaller budget to both members of a pair).

Prints one JSON object and writes it, with a Markdown table, under ``--out``. ``--gather RUN ...``
trains nothing: it merges the ``results.json`` of runs made one seed at a time (e.g. two at a time on
two cores) into one table, each row over the seeds of all runs.

    .venv/bin/python benchmarks/motion_segmentation.py --train data/mct96_train --test data/mct96_test \\
        --out runs/results --seeds 0 1 2 --flows gt dis --ablations
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
from spelke.methods.segment import segment
from spelke.motion.track_cache import available_tags

ANN = "AnnotationsMoving"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def evaluate(run: Path, test: Path) -> dict[str, float]:
    j = create_protocol("davis2016").evaluate(run / "predictions", test, annotations=ANN, split="all")
    o = create_protocol("davis2016-oracle-gwm").evaluate(
        run / "predictions-merged", test, annotations=ANN, frames="all", split="all"
    )
    a = create_protocol("davis2016").evaluate(run / "predictions", test, split="all")
    return {
        "J": j.summary["J_frame_mean"],
        "J_seq": j.summary["J_seq_mean"],
        "J_gt_matched": o.summary["J_frame_mean"],
        "J_all_objects": a.summary["J_frame_mean"],
    }


def evaluate_binary(pred: Path, test: Path) -> dict[str, float]:
    j = create_protocol("davis2016").evaluate(pred, test, annotations=ANN, split="all")
    a = create_protocol("davis2016").evaluate(pred, test, split="all")
    return {
        "J": j.summary["J_frame_mean"],
        "J_seq": j.summary["J_seq_mean"],
        "J_all_objects": a.summary["J_frame_mean"],
    }


def track_tag(root: Path, flow: str) -> str:
    tags = [t for t in available_tags(root, "flow-chain") if t.startswith(f"{flow}-")]
    if not tags:
        raise SystemExit(
            f"no flow-chain tracks from '{flow}' flow under {root}; run spelke tracks --flow-cache {flow}"
        )
    return tags[0]


def run_method(
    name: str,
    overrides: list[str],
    seed: int,
    train_root: Path,
    test: Path,
    out: Path,
    tta: int = 0,
) -> dict[str, Any]:
    run = out / f"{name}-seed{seed}"
    m = create_method(name, "cpu", overrides)
    ds = create_dataset("moving-clevrtex", root=train_root)
    res = train(m, ds, run, seed=seed, progress=False)
    t0 = time.perf_counter()
    segment(res.weights, test, run, overlays=(seed == 0))
    row = evaluate(run, test)
    row.update(
        {
            "train_s": round(res.seconds, 1),
            "segment_s": round(time.perf_counter() - t0, 1),
            "steps": res.steps,
        }
    )
    if tta:
        # GWM App. C.3.1: the same checkpoint adapted for ``tta`` steps on each held-out clip's flow.
        t0 = time.perf_counter()
        segment(res.weights, test, run / f"tta{tta}", tta_steps=tta, overlays=(seed == 0))
        row.update({f"tta_{k}": v for k, v in evaluate(run / f"tta{tta}", test).items()})
        row["tta_segment_s"] = round(time.perf_counter() - t0, 1)
    log(f"  {run.name}: {row}")
    return row


def untrained(seed: int, test: Path, out: Path) -> dict[str, Any]:
    import torch

    m = create_method("gwm", "cpu")
    torch.manual_seed(seed)
    model = m.build_model()
    run = out / f"untrained-seed{seed}"
    w = save_weights(
        run / "checkpoints" / "final.pt",
        make_header("gwm", m.model_name, m.config_dict()),
        model.state_dict(),
    )
    segment(w, test, run, overlays=False)
    return evaluate(run, test)


def flow_baselines(test: Path, flow: str, out: Path) -> dict[str, dict[str, float]]:
    from spelke.data.datasets.flow_access import cached_flow
    from spelke.methods.baselines import flow_threshold, kmeans_flow_binary

    ds = create_dataset("moving-clevrtex", root=test)
    rows = {}
    for name, fn in (
        ("flow-threshold", lambda f: flow_threshold(f)),
        ("kmeans-flow", lambda f: kmeans_flow_binary(f, 0)),
        (
            "flow-threshold, quadratic camera removed",
            lambda f: flow_threshold(f, background="quadratic"),
        ),
    ):
        pred = out / f"{name}-{flow}" / "predictions"
        for seq in ds.sequences:
            names = ds.frame_names(seq)
            for i, n in enumerate(names):
                f = cached_flow(test, seq, n, i, 1 if i + 1 < len(names) else -1, flow)
                write_label_map(pred / seq / f"{n}.png", fn(f).astype(np.int64))
        rows[f"{name} ({flow} flow, at test time)"] = evaluate_binary(pred, test)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path)
    ap.add_argument("--test", type=Path)
    ap.add_argument(
        "--gather",
        type=Path,
        nargs="+",
        help="merge the results.json of these run folders into one table under --out (trains nothing)",
    )
    ap.add_argument("--out", type=Path, default=Path("runs/results"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--flows", nargs="+", default=["gt", "dis"])
    ap.add_argument("--methods", nargs="+", default=["gwm", "lrtl"])
    ap.add_argument("--ablations", action="store_true", help="also the ablation pairs of Tables 3.2 and 5.4")
    ap.add_argument("--ablations-only", action="store_true", help="only the ablation pairs")
    ap.add_argument("--set", nargs="*", default=[], help="extra config overrides for every trained run")
    ap.add_argument(
        "--tta",
        type=int,
        default=20,
        help="test-time adaptation steps per held-out clip for an extra row per method (0: none)",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.gather:
        results = gather(args.gather)
        write_json(args.out / "results.json", results)
        (args.out / "results.md").write_text(markdown(results))
        print(markdown(results), end="")
        return
    if args.train is None or args.test is None:
        ap.error("--train and --test are required (or --gather RUN ... to merge finished runs)")
    args.ablations = args.ablations or args.ablations_only
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from spelke.synth.moving_gt import write_moving_annotations

    write_moving_annotations(args.test)
    out = args.out
    results: dict[str, Any] = {
        "train": str(args.train),
        "test": str(args.test),
        "seeds": args.seeds,
        "tta": args.tta,
        "set": list(args.set),
        "rows": {},
    }
    rows = results["rows"]

    def multi(label: str, fn) -> None:
        per_seed = [fn(s) for s in args.seeds]
        rows[label] = {"per_seed": per_seed, **summarise_seeds(per_seed)}
        log(f"{label}: J {rows[label]['J']['mean']:.3f} +- {rows[label]['J']['std']:.3f}")
        write_json(out / "results.json", results)

    if not args.ablations_only:
        multi("untrained network", lambda s: untrained(s, args.test, out / "untrained"))
    for flow in [] if args.ablations_only else args.flows:
        for label, r in flow_baselines(args.test, flow, out / "baselines").items():
            rows[label] = r
        for name in args.methods:
            over = [f"flow_backend={flow}", *args.set]
            if name == "lrtl":
                over.append(f"track_tag={track_tag(args.train, flow)}")
            multi(
                f"{name} ({flow} flow)",
                lambda s, n=name, o=over, f=flow: run_method(
                    n, o, s, args.train, args.test, out / f"{n}-{f}", tta=args.tta
                ),
            )
    if args.ablations:
        flow = args.flows[0]
        tag = track_tag(args.train, flow)
        pairs = [
            ("gwm, quadratic motion model", "gwm", []),
            ("gwm, constant motion model", "gwm", ["motion_model=constant"]),
            ("lrtl, flow + trajectory + temporal", "lrtl", [f"track_tag={tag}"]),
            (
                "lrtl, flow term only",
                "lrtl",
                [f"track_tag={tag}", "trajectory_weight=0", "temporal_weight=0"],
            ),
        ]
        for label, name, extra in pairs:
            sub = label.split(", ")[1].split(" ")[0] + "-" + name
            multi(
                f"{label} ({flow} flow)",
                lambda s, n=name, e=extra, d=sub: run_method(
                    n,
                    [f"flow_backend={flow}", *e, *args.set],
                    s,
                    args.train,
                    args.test,
                    out / f"ablation-{d}",
                ),
            )
    write_json(out / "results.json", results)
    (out / "results.md").write_text(markdown(results))
    print(json.dumps(results, indent=1, default=float))


def gather(runs: list[Path]) -> dict[str, Any]:
    """One results object from several runs' ``results.json``: trained rows pool their seeds (a seed met
    twice is refused, except the untrained network, which every run scores for its own seeds and which
    must then agree), rows that train nothing (baselines) must agree between runs, and so must the
    training and test data, the adaptation steps and the ``--set`` overrides."""
    import json

    merged: dict[str, Any] = {"gathered_from": [str(r) for r in runs], "rows": {}}
    pooled: dict[str, dict[int, dict[str, Any]]] = {}
    for run in runs:
        path = Path(run) / "results.json"
        if not path.is_file():
            raise SystemExit(f"{path} is missing: is {run} a finished run of this benchmark?")
        res = json.loads(path.read_text())
        for key in ("train", "test", "tta", "set"):
            if merged.setdefault(key, res.get(key)) != res.get(key):
                raise SystemExit(
                    f"{run} has {key}={res.get(key)!r}, the others {merged[key]!r}: not one table"
                )
        for label, row in res["rows"].items():
            if "per_seed" not in row:  # a baseline: the same numbers in every run
                if merged["rows"].setdefault(label, row) != row:
                    raise SystemExit(f"baseline {label!r} differs between runs: were they on the same data?")
                continue
            merged["rows"].setdefault(label, None)  # keeps the order of first appearance
            seen = pooled.setdefault(label, {})
            for seed, entry in zip(res["seeds"], row["per_seed"], strict=True):
                if seed not in seen:
                    seen[seed] = entry
                elif label != "untrained network":
                    raise SystemExit(f"{label!r}: seed {seed} met twice in {[str(r) for r in runs]}")
                elif seen[seed] != entry:
                    raise SystemExit(f"untrained network, seed {seed}: two runs disagree")
    for label, by_seed in pooled.items():
        per_seed = [by_seed[s] for s in sorted(by_seed)]
        merged["rows"][label] = {"per_seed": per_seed, "seeds": sorted(by_seed), **summarise_seeds(per_seed)}
    return merged


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| method | J moving (fg by rule) | J moving (GT-matched) | J all objects | train s |",
        "|---|---|---|---|---|",
    ]
    for label, r in results["rows"].items():

        def cell(k: str, r: dict[str, Any] = r) -> str:
            v = r.get(k)
            if isinstance(v, dict):
                return f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}"
            return f"{100 * v:.1f}" if isinstance(v, float) else "–"

        tr = r.get("train_s")
        tcell = f"{tr['mean']:.0f}" if isinstance(tr, dict) else "–"
        lines.append(
            f"| {label} | {cell('J')} | {cell('J_gt_matched')} | {cell('J_all_objects')} | {tcell} |"
        )
        if "tta_J" in r:
            steps = results.get("tta", "")
            lines.append(
                f"| {label} + test-time adaptation ({steps} steps per clip) | {cell('tta_J')} | "
                f"{cell('tta_J_gt_matched')} | {cell('tta_J_all_objects')} | {tcell} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
