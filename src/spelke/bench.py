"""``spelke bench clevrtex``: train zoo models on ClevrTex variants, evaluate them on every variant.

The ClevrTex benchmark of thesis Ch. 2: each chosen model (:mod:`spelke.methods.zoo`) is trained on the
training split of one variant (or of each of several: ``clevr`` and ``full`` for Table 2.3, whose CLEVR
column comes from CLEVR-trained models and the rest from CLEVRTEX-trained ones), for each seed, with the
engine (resuming where a run stopped); each
trained model segments the test split of every variant (``segment_stills``, label maps and
reconstructions), which the ``clevrtex`` protocol scores (mIoU, FG-ARI, MSE and the per-attribute
breakdown). The results are reduced over seeds (mean and sample standard deviation) and written as

* ``results.md``: the thesis' tables (2.3: CLEVR, CLEVRTEX, OOD, CAMO, mIoU and MSE; 2.4: PLAINBG,
  VARBG, GRASSBG, mIoU and MSE; B.1/B.2: FG-ARI and mIoU), the per-attribute table (shape, size,
  material), and the compute table (Table 2.2: training time, inference time per batch, peak memory,
  measured on this machine), and with several training variants a transfer table (every training
  variant on every test split);
* ``results.csv`` (every number, long format), ``compute.csv``, ``per_seed.csv``, ``results.json``;
* ``pictures/<model>-<variant>.png``: decompositions of the first test images (seed of the first run).

Runs live in ``<out>/runs/<model>/<train variant>-seed<seed>/`` (the engine's run directory) with the
predictions of each test variant in ``eval/<variant>/`` and its metrics in ``eval/<variant>.json``.
It reads spelke-generated data (``spelke generate clevrtex``) and the official download alike: both
hold ``clevrtex_<key>/`` folders under one root.

Sizes: the protocol scores at ``eval_size`` (default: the model's input size; the thesis: 128, the
paper presets' size). Test images are read at that size; when it differs from the model's input the
run is refused unless ``resize=True``, which resizes images to the model and its masks and
reconstructions back.
"""

from __future__ import annotations

import math
import os
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from spelke import __version__
from spelke.data.clevrtex_layout import VARIANT_KEYS, variant_key
from spelke.data.io import read_json, write_json
from spelke.errors import ConfigError, DataLayoutError

__all__ = ["VARIANT_ORDER", "VARIANT_TITLES", "BenchResult", "bench_clevrtex", "present_variants"]

#: Variant keys in the thesis' column order (Table 2.3, then Table 2.4).
VARIANT_ORDER = ("clevr", "full", "outd", "camo", "pbg", "vbg", "grassbg")
#: Column titles of the thesis tables.
VARIANT_TITLES = {
    "clevr": "CLEVR",
    "full": "CLEVRTEX",
    "outd": "OOD",
    "camo": "CAMO",
    "pbg": "PLAINBG",
    "vbg": "VARBG",
    "grassbg": "GRASSBG",
}
#: Which table layout each variant belongs to (thesis Table 2.3 / B.1 vs Table 2.4 / B.2).
_TABLE_23 = ("clevr", "full", "outd", "camo")
_TABLE_24 = ("pbg", "vbg", "grassbg")
#: Attributes of the per-attribute table (the thesis' breakdowns: shape, size, material).
ATTRIBUTES = ("shape", "size", "material")

LogFn = Callable[[str], None]


@dataclass
class BenchResult:
    """What :func:`bench_clevrtex` wrote, and the numbers."""

    out: Path
    markdown: Path
    csv: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    compute: list[dict[str, Any]] = field(default_factory=list)
    pictures: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def present_variants(root: str | os.PathLike[str]) -> list[str]:
    """Variant keys with a ``clevrtex_<key>/`` folder under ``root``, in the thesis' order."""
    r = Path(root).expanduser()
    found = {p.name[len("clevrtex_") :] for p in r.glob("clevrtex_*") if p.is_dir()} if r.is_dir() else set()
    return [k for k in VARIANT_ORDER if k in found]


def _zoo_name(name: str) -> str:
    from spelke.methods.zoo import ZOO_METHODS
    from spelke.models.zoo import OBJECT_CENTRIC, list_object_centric

    list_object_centric()  # loads the registry, so that aliases (sa, genv2, ...) resolve
    key = str(name).strip().lower()
    if key in OBJECT_CENTRIC:
        key = OBJECT_CENTRIC.canonical(key)
    if key not in ZOO_METHODS:
        raise ConfigError(f"unknown model {name!r}; ClevrTex zoo models: {', '.join(ZOO_METHODS)}")
    return key


def _variant(name: str, present: list[str], root: Path, what: str) -> str:
    key = variant_key(name)  # unknown names: ConfigError with the accepted ones
    assert key is not None
    if key not in present:
        raise DataLayoutError(
            f"{what} variant {name!r} has no clevrtex_{key}/ folder under {root}; present: "
            f"{', '.join(present) or 'none'} (make it with: spelke generate clevrtex --variant {name} --out {root})"
        )
    return key


def _split_overrides(overrides: Sequence[str] | None, models: list[str]) -> dict[str, list[str]]:
    """``key=value`` for every model, ``model:key=value`` for one: {model: [key=value, ...]}."""
    per: dict[str, list[str]] = {m: [] for m in models}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key=value or model:key=value")
        key, value = item.split("=", 1)
        if ":" in key:
            scope, key = key.split(":", 1)
            target = _zoo_name(scope)
            if target not in per:
                raise ConfigError(
                    f"override '{item}' is for {target}, which is not benchmarked ({', '.join(models)})"
                )
            per[target].append(f"{key}={value}")
        else:
            for m in models:
                per[m].append(item)
    return per


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


def bench_clevrtex(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    models: Sequence[str] = ("slot-attention",),
    train_variant: str | Sequence[str] = "full",
    test_variants: Sequence[str] | None = None,
    preset: str | None = "cpu",
    seeds: Sequence[int] = (0,),
    overrides: Sequence[str] | None = None,
    eval_size: int | None = None,
    resize: bool = False,
    pictures: int = 4,
    baselines: bool = True,
    device: str = "auto",
    resume: bool = True,
    train_missing: bool = True,
    train_progress: bool = False,
    log: LogFn | None = print,
) -> BenchResult:
    """Train ``models`` on ``train_variant`` for each seed, evaluate on ``test_variants``, write tables.

    Args:
        root: a folder holding ``clevrtex_<key>/`` variant folders (generated or the official download).
        out: the output folder (runs, tables, pictures).
        models: zoo model names (``slot-attention``, ``monet``, ``iodine``, ``genesis-v2``, ``emorl``).
        train_variant: the variant whose training split the models learn from (thesis: full or clevr), or
            several (``["clevr", "full"]``): each model is trained on each, every run is scored on every
            test variant, and each column of the thesis-layout tables is filled from the runs trained on
            that column's variant when there are some, else from those trained on ``full``, else on the
            first given (Table 2.3: the CLEVR column from CLEVR-trained models, the others from
            CLEVRTEX-trained ones); the full train x test matrix goes to a transfer table.
        test_variants: variants whose test split is scored (default: every variant under ``root``).
        preset: ``cpu``, ``paper`` (the dataclass defaults) or a YAML file, for every model.
        seeds: one run per seed (the thesis: 3).
        overrides: ``key=value`` for every model, ``model:key=value`` for one (``max_steps=300``).
        eval_size: the protocol's image size (default: the model's input size; the thesis: 128).
        resize: allow test images of another size than the model's input (see the module doc).
        pictures: test images per decomposition picture (0: none).
        baselines: also score two references that learn nothing, on every test split: one segment for the
            whole image, and K-means on colour and position with as many clusters as the models' slots
            (at the first model's protocol size).
        device: ``auto`` (a GPU when there is one), ``cpu`` or ``cuda``.
        resume: continue runs from their last checkpoint (False: retrain from scratch).
        train_missing: False: train nothing; score the runs that are finished with these settings and
            skip (with a line in the log) those that are missing or unfinished. For gathering runs
            trained by separate calls (one per core or per cluster task); cells then reduce over the
            seeds that exist, and say how many.
        train_progress: show the engine's progress bar.
        log: called with one line per stage (None: silent).

    Raises:
        ConfigError: an unknown model or variant (the message lists the valid names), a bad override,
            or a model input size that differs from ``eval_size`` without ``resize``.
        DataLayoutError: a variant without its folder under ``root``.
    """
    from spelke.data import create_dataset
    from spelke.engine.trainer import summarise_seeds, train
    from spelke.methods.registry import create_method

    say = log or (lambda _msg: None)
    t_start = time.perf_counter()
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", str(device)):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N (N a GPU index), got {device!r}")
    root, out = Path(root).expanduser(), Path(out).expanduser()
    if not present_variants(root) and root.name.startswith("clevrtex_"):
        root = root.parent  # the clevrtex_<key>/ folder itself was given
    names = list(dict.fromkeys(_zoo_name(m) for m in models))
    if not names:
        raise ConfigError("name at least one model to benchmark")
    present = present_variants(root)
    if not present:
        raise DataLayoutError(
            f"no clevrtex_<key>/ folders under {root}; expected ClevrTex variants ({', '.join(VARIANT_KEYS)}) "
            f"as generated by `spelke generate clevrtex --out {root}` or downloaded"
        )
    wanted = [train_variant] if isinstance(train_variant, str) else list(train_variant)
    if not wanted:
        raise ConfigError("name at least one training variant (e.g. full, or clevr,full)")
    trains = list(dict.fromkeys(_variant(v, present, root, "training") for v in wanted))
    tests = (
        list(dict.fromkeys(_variant(v, present, root, "test") for v in test_variants))
        if test_variants
        else list(present)
    )
    seeds = [int(s) for s in seeds] or [0]
    dev = torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else device if device != "auto" else "cpu"
    )
    accelerator = "gpu" if dev.type == "cuda" else "cpu"
    per_model = _split_overrides(overrides, names)

    methods: dict[tuple[str, str], Any] = {}  # (model, training variant) -> method
    for name, train_key in ((n, t) for n in names for t in trains):
        user = per_model[name]
        extra = [] if any(o.split("=", 1)[0].strip() == "dataset" for o in user) else [f"dataset={train_key}"]
        m = create_method(name, None if preset in (None, "paper") else preset, [*extra, *user])
        h, w = (int(v) for v in m.config.input_size)
        if h != w:
            raise ConfigError(
                f"{name}: ClevrTex images are square crops; input_size must be square, got {h}x{w}"
            )
        size = int(eval_size or h)
        if size != h and not resize:
            raise ConfigError(
                f"the protocol reads {size}x{size} images but {name} takes {h}x{w}: evaluate at the model's "
                f"size (eval_size={h}) or let predictions be resized (resize=True)"
            )
        methods[name, train_key] = m
    say(
        f"bench clevrtex: {', '.join(names)} trained on {', '.join(trains)} ({len(seeds)} seed(s)), tested on "
        f"{', '.join(tests)}, preset {preset or 'paper'}, device {dev}"
    )

    out.mkdir(parents=True, exist_ok=True)
    per_seed: list[dict[str, Any]] = []  # one row per model, seed, test variant
    attrs: list[dict[str, Any]] = []
    compute: list[dict[str, Any]] = []
    picture_paths: list[Path] = []
    drawn: dict[tuple[str, str], bool] = {}  # (model, test variant) -> picture made
    n_runs = len(names) * len(trains) * len(seeds)
    k_run = 0
    for name, train_key in ((n, t) for n in names for t in trains):
        m = methods[name, train_key]
        h = int(m.config.input_size[0])
        size = int(eval_size or h)
        train_ds = create_dataset("clevrtex", root=root, split="train", variant=train_key, size=h)
        times: list[dict[str, Any]] = []
        for seed in seeds:
            k_run += 1
            run = out / "runs" / name / f"{train_key}-seed{seed}"
            say(
                f"[{k_run}/{n_runs}] {'train' if train_missing else 'score'} {name} seed {seed} on {train_key} "
                f"({len(train_ds)} images, "
                f"{m.config.max_steps} steps, batch {m.config.batch_size}) -> {run}"
            )
            if train_missing:
                if not resume:  # retrained from scratch: an earlier run's time no longer counts
                    (run / "bench_timing.json").unlink(missing_ok=True)
                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(dev)
                res = train(
                    m,
                    train_ds,
                    run,
                    seed=seed,
                    resume=resume,
                    progress=train_progress,
                    accelerator=accelerator,
                    inputs={"dataset": "clevrtex", "root": str(root), "split": "train", "variant": train_key},
                )
            else:
                res = _finished(run, m)
                if res is None:
                    say("    skipped: not finished with these settings, and training is off")
                    continue
            timing = _update_timing(run, res.steps, res.seconds, _peak_memory_mb(dev), dev)
            times.append(timing)
            last_weights = res.weights
            say(
                f"    trained to step {res.steps} ({timing['train_seconds']:.1f} s in total); "
                + ", ".join(
                    f"{k.split('/')[-1]}={v:.4g}"
                    for k, v in sorted(res.final_losses.items())
                    if "lr" not in k
                )
            )
            for v in tests:
                test_ds = create_dataset("clevrtex", root=root, split="test", variant=v, size=size)
                pred = run / "eval" / v
                rep = _segment(res.weights, test_ds, pred, name, resize, dev, m.config.batch_size)
                result = _evaluate(pred, root, v, size)
                write_json(run / "eval" / f"{v}.json", result.to_dict())
                s = result.summary
                row = {
                    "model": name,
                    "seed": seed,
                    "train_variant": train_key,
                    "test_variant": v,
                    "images": int(s.get("images", 0)),
                    "miou": 100 * s.get("miou", math.nan),
                    "fg_ari": 100 * s.get("fg_ari", math.nan),
                    "mse": s.get("mse", math.nan),
                }
                per_seed.append(row)
                for a in result.tables.get("per_attribute", []):
                    if a.get("attribute") in ATTRIBUTES and "obj_iou" in a:
                        attrs.append(
                            {"model": name, "seed": seed, "train_variant": train_key, "test_variant": v, "attribute": a["attribute"],
                             "value": str(a["value"]), "obj_iou": 100 * a["obj_iou"], "objects": a["objects"],
                             "obj_mse": a.get("obj_mse", math.nan)}
                        )  # fmt: skip
                say(
                    f"    {v}: {rep.frames} segmented, {rep.skipped} reused; mIoU {row['miou']:.2f}  "
                    f"FG-ARI {row['fg_ari']:.2f}  MSE {row['mse']:.1f}  ({row['images']} images)"
                )
                if pictures > 0 and not drawn.get((name, v)) and _source(v, trains) == train_key:
                    drawn[name, v] = True
                    p = out / "pictures" / f"{name}-{v}.png"  # the first seed that ran
                    _picture(res.weights, test_ds, p, name, pictures, dev)
                    picture_paths.append(p)
        if not times:  # no finished run of this model on this variant
            continue
        infer = _inference_time(m, last_weights, train_ds, dev)
        compute.append(_compute_row(name, train_key, m, times, infer, dev))
        say(
            f"    compute: {compute[-1]['train_seconds']:.1f} s training, "
            f"{compute[-1]['infer_ms']:.1f} ± {compute[-1]['infer_ms_std']:.1f} ms per batch of "
            f"{compute[-1]['infer_batch']}, peak {compute[-1]['peak_mb']:.0f} MB"
        )

    # -- references that learn nothing (train_variant "": they fill every column) ------------------
    refs: list[str] = []
    if baselines:
        k = max(int(methods[n, trains[0]].config.num_slots) for n in names)
        size = int(eval_size or methods[names[0], trains[0]].config.input_size[0])
        for label, kind in (("one segment", "one-segment"), (f"K-means colour+position (k={k})", "kmeans")):
            refs.append(label)
            for v in tests:
                test_ds = create_dataset("clevrtex", root=root, split="test", variant=v, size=size)
                pred = out / "baselines" / f"{kind}-k{k}" / f"{v}-{size}"
                made = _baseline(kind, test_ds, pred, k)
                result = _evaluate(pred, root, v, size)
                s = result.summary
                per_seed.append(
                    {"model": label, "seed": 0, "train_variant": "", "test_variant": v,
                     "images": int(s.get("images", 0)), "miou": 100 * s.get("miou", math.nan),
                     "fg_ari": 100 * s.get("fg_ari", math.nan), "mse": s.get("mse", math.nan)}
                )  # fmt: skip
                for a in result.tables.get("per_attribute", []):
                    if a.get("attribute") in ATTRIBUTES and "obj_iou" in a:
                        attrs.append(
                            {"model": label, "seed": 0, "train_variant": "", "test_variant": v,
                             "attribute": a["attribute"], "value": str(a["value"]), "obj_iou": 100 * a["obj_iou"],
                             "objects": a["objects"], "obj_mse": math.nan}
                        )  # fmt: skip
                say(
                    f"    {label} on {v}: {made} made; mIoU {per_seed[-1]['miou']:.2f}  "
                    f"FG-ARI {per_seed[-1]['fg_ari']:.2f}"
                )

    # -- reduce over seeds -------------------------------------------------------------------------
    rows: list[dict[str, Any]] = []
    triples = [(n, t, v) for n in names for t in trains for v in tests] + [
        (r, "", v) for r in refs for v in tests
    ]
    for name, train_key, v in triples:
        got = [r for r in per_seed if r["model"] == name and r["train_variant"] == train_key
               and r["test_variant"] == v]  # fmt: skip
        summ = summarise_seeds([{k: r[k] for k in ("miou", "fg_ari", "mse")} for r in got])
        for metric in ("miou", "fg_ari", "mse"):
            st = summ.get(metric, {"mean": math.nan, "std": math.nan, "n": 0})
            rows.append(
                {"model": name, "train_variant": train_key, "test_variant": v, "metric": metric,
                 "attribute": "", "value": "", **st}
            )  # fmt: skip
        mine = [a for a in attrs if a["model"] == name and a["train_variant"] == train_key
                and a["test_variant"] == v]  # fmt: skip
        for attr, value in sorted({(a["attribute"], a["value"]) for a in mine}):
            vals = [a["obj_iou"] for a in mine if a["attribute"] == attr and a["value"] == value]
            st = summarise_seeds([{"x": x} for x in vals])["x"]
            rows.append(
                {"model": name, "train_variant": train_key, "test_variant": v, "metric": "obj_miou",
                 "attribute": attr, "value": value, **st}
            )  # fmt: skip

    meta = {
        "root": str(root),
        "train_variant": trains[0],
        "train_variants": trains,
        "test_variants": tests,
        "models": names,
        "baselines": refs,
        "seeds": seeds,
        "preset": preset or "paper",
        "overrides": list(overrides or []),
        "eval_size": {n: int(eval_size or methods[n, trains[0]].config.input_size[0]) for n in names},
        "resize": resize,
        "device": _device_name(dev),
        "spelke_version": __version__,
        "torch_version": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    _write_csv(out / "results.csv", rows, ["model", "train_variant", "test_variant", "metric", "attribute",
                                           "value", "mean", "std", "n"])  # fmt: skip
    _write_csv(out / "per_seed.csv", per_seed, list(per_seed[0]) if per_seed else ["model"])
    _write_csv(out / "compute.csv", compute, list(compute[0]) if compute else ["model"])
    write_json(
        out / "results.json", {"meta": meta, "results": rows, "per_seed": per_seed, "compute": compute}
    )
    md = out / "results.md"
    from spelke.data.io import atomic_write

    with atomic_write(md, "w") as f:
        f.write(_markdown(meta, rows, compute, tests, [*names, *refs], picture_paths, out))
    seconds = time.perf_counter() - t_start
    say(f"wrote {md}, {out / 'results.csv'} and {len(picture_paths)} picture(s) in {seconds:.1f} s")
    return BenchResult(out, md, out / "results.csv", rows, compute, picture_paths, seconds)


# ----------------------------------------------------------------------------------------------------------
# Stages


def _finished(run: Path, m: Any) -> Any:
    """The run's result when its exported weights exist and were trained with ``m``'s settings, else None."""
    from spelke.engine.checkpoint import load_checkpoint
    from spelke.engine.trainer import LOGGING_FIELDS, TrainResult

    weights = run / "checkpoints" / "final.pt"
    if not weights.is_file():
        return None
    header, _ = load_checkpoint(weights)

    def learnt(config: dict[str, Any]) -> dict[str, Any]:  # how often it logged pictures does not matter
        return {k: v for k, v in config.items() if k not in LOGGING_FIELDS}

    if header.get("method") != m.name or learnt(header.get("config") or {}) != learnt(m.config_dict()):
        return None
    timing = read_json(run / "bench_timing.json") if (run / "bench_timing.json").is_file() else {}
    steps = int(timing.get("steps", m.config.max_steps))
    return TrainResult(run, weights, steps, 0.0)


def _update_timing(
    run: Path, steps: int, seconds: float, peak_mb: float, dev: torch.device
) -> dict[str, Any]:
    """Training time summed over the calls that trained (a finished run resumed adds nothing)."""
    path = run / "bench_timing.json"
    old = read_json(path) if path.is_file() else {"steps": 0, "train_seconds": 0.0, "peak_mb": 0.0}
    if steps > int(old.get("steps", 0)):
        old = {
            "steps": steps,
            "train_seconds": float(old.get("train_seconds", 0.0)) + seconds,
            "peak_mb": max(float(old.get("peak_mb", 0.0)), peak_mb),
            "device": _device_name(dev),
        }
        write_json(path, old)
    return old


def _segment(
    weights: Path, ds: Any, pred: Path, name: str, resize: bool, dev: torch.device, batch: int
) -> Any:
    """``segment_stills`` into ``pred``, redone from scratch when the weights changed (longer training)."""
    from spelke.methods.segment import _identity, segment_stills

    ident = _identity(weights, 0)
    manifest = pred / "segment_manifest.json"
    old = read_json(manifest).get("identity") if manifest.is_file() else None
    stale = old is not None and old.get("sha256") != ident["sha256"]
    # segment_stills checks (and writes, before segmenting) segment_manifest.json: a stale one is replaced
    rep = segment_stills(
        weights, ds, pred, method=name, overlays=0, batch_size=min(batch, 32), overwrite=stale, recon=True,
        resize=resize, device=dev,
    )  # fmt: skip
    return rep


def _baseline(kind: str, ds: Any, pred: Path, k: int) -> int:
    """Label maps of a reference that learns nothing for every image of ``ds`` into ``pred/predictions``
    (``one-segment``: the whole image one segment; ``kmeans``: K-means on colour and position, seed 0);
    images already written are kept. Returns how many were made."""
    import numpy as np

    from spelke.data.io import write_label_map
    from spelke.methods.baselines import kmeans_colour_position

    made = 0
    for i, name in enumerate(ds.names):
        path = pred / "predictions" / f"{name}.png"
        if path.is_file():
            continue
        img = np.asarray(ds.image(i), dtype=np.float32)
        if kind == "one-segment":
            labels = np.ones(img.shape[1:], np.int64)
        else:
            labels = kmeans_colour_position(img, k, seed=0).astype(np.int64) + 1
        write_label_map(path, labels)
        made += 1
    return made


def _evaluate(pred: Path, root: Path, variant: str, size: int) -> Any:
    from spelke.eval.protocols import create_protocol

    return create_protocol("clevrtex").evaluate(pred, root, split="test", variant=variant, size=size)


def _picture(weights: Path, ds: Any, path: Path, name: str, n: int, dev: torch.device) -> None:
    """The decompositions of the first ``n`` images of ``ds`` (seeded, as the predictions)."""
    from spelke.data.io import write_image
    from spelke.engine.data import resize_image
    from spelke.methods.segment import load_trained
    from spelke.methods.zoo import decomposition_picture

    m, model = load_trained(weights, name)
    model.to(dev)
    k = min(n, len(ds))
    x = resize_image(
        torch.stack([torch.as_tensor(ds.image(i)) for i in range(k)]), tuple(m.config.input_size)
    )
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []), torch.no_grad():
        torch.manual_seed(0)
        output = m.forward(model, x.to(dev))
    write_image(path, decomposition_picture(x, output))


def _inference_time(m: Any, weights: Path, ds: Any, dev: torch.device, passes: int = 7) -> dict[str, float]:
    """Mean and standard deviation of the forward time of one batch over ``passes`` passes (Table 2.2:
    7 passes at the original batch size), after one warm-up pass."""
    from spelke.engine.data import ImageFrames
    from spelke.methods.segment import load_trained

    _, model = load_trained(weights, m.name)
    model.to(dev)
    frames = ImageFrames(ds, tuple(m.config.input_size))
    b = int(m.config.batch_size)
    x = torch.stack([frames[i % len(frames)]["image"] for i in range(b)]).to(dev)
    times = []
    with torch.no_grad():
        for k in range(passes + 1):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            m.forward(model, x)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if k:  # the first pass warms up
                times.append(1000 * (time.perf_counter() - t0))
    return {
        "infer_ms": statistics.fmean(times),
        "infer_ms_std": statistics.stdev(times) if len(times) > 1 else 0.0,
        "infer_batch": b,
    }


def _compute_row(
    name: str, train_key: str, m: Any, times: list[dict[str, Any]], infer: dict[str, float], dev: torch.device
) -> dict[str, Any]:
    secs = [float(t["train_seconds"]) for t in times]
    steps = [int(t["steps"]) for t in times]
    return {
        "model": name,
        "train_variant": train_key,
        "device": _device_name(dev),
        "runs": len(times),
        "steps": steps[0] if len(set(steps)) == 1 else max(steps),
        "batch": int(m.config.batch_size),
        "input": f"{m.config.input_size[0]}x{m.config.input_size[1]}",
        "train_seconds": statistics.fmean(secs),
        "train_seconds_std": statistics.stdev(secs) if len(secs) > 1 else 0.0,
        "seconds_per_step": statistics.fmean(s / max(n, 1) for s, n in zip(secs, steps, strict=True)),
        **infer,
        "peak_mb": max(float(t.get("peak_mb", 0.0)) for t in times),
        "peak_kind": "GPU allocated" if dev.type == "cuda" else "process RSS",
    }


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


# ----------------------------------------------------------------------------------------------------------
# Tables


def _write_csv(path: Path, rows: list[dict[str, Any]], cols: list[str]) -> None:
    import csv
    import io

    from spelke.data.io import atomic_write

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({c: (f"{r[c]:.6g}" if isinstance(r.get(c), float) else r.get(c, "")) for c in cols})
    with atomic_write(path, "w") as f:
        f.write(buf.getvalue())


def _cell(st: dict[str, Any] | None, digits: int) -> str:
    if not st or st.get("n", 0) == 0 or not math.isfinite(st.get("mean", math.nan)):
        return "-"
    mean = f"{st['mean']:.{digits}f}"
    return f"{mean} ± {st['std']:.{digits}f}" if st["n"] > 1 else mean


def _source(test: str, trains: list[str]) -> str:
    """The training variant whose runs fill the column of test variant ``test`` (thesis Table 2.3: CLEVR
    from models trained on CLEVR, CLEVRTEX, OOD and CAMO from models trained on CLEVRTEX)."""
    if test in trains:
        return test
    return "full" if "full" in trains else trains[0]


def _table(title: str, rows: list[dict[str, Any]], names: list[str], variants: list[str],
           metrics: list[tuple[str, str, int]], trains: list[str], n_seeds: int = 1) -> str:  # fmt: skip
    head = ["Model"] + [f"{VARIANT_TITLES[v]} {label}" for v in variants for _, label, _ in metrics]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        cells = [name]
        for v in variants:
            src = _source(v, trains)
            for metric, _, digits in metrics:
                st = next((r for r in rows if r["model"] == name and r["train_variant"] in (src, "")
                           and r["test_variant"] == v and r["metric"] == metric and not r["attribute"]),
                          None)  # fmt: skip
                short = st is not None and st["train_variant"] and 0 < st.get("n", 0) < n_seeds
                cells.append(_cell(st, digits) + (f" (n={st['n']})" if short else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _transfer_table(rows: list[dict[str, Any]], names: list[str], trains: list[str], tests: list[str]) -> str:
    """Every (model, training variant) against every test variant: FG-ARI / mIoU."""
    head = ["Model", "trained on"] + [VARIANT_TITLES[v] for v in tests]
    lines = [
        "### Transfer: FG-ARI / mIoU (%) of each training variant on each test split",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name, t in ((n, t) for n in names for t in trains):
        cells = [name, VARIANT_TITLES[t]]
        for v in tests:
            got = {r["metric"]: r for r in rows if r["model"] == name and r["train_variant"] == t
                   and r["test_variant"] == v and not r["attribute"]}  # fmt: skip
            cells.append(f"{_cell(got.get('fg_ari'), 1)} / {_cell(got.get('miou'), 1)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _markdown(meta: dict[str, Any], rows: list[dict[str, Any]], compute: list[dict[str, Any]], tests: list[str],
              names: list[str], pictures: list[Path], out: Path) -> str:  # fmt: skip
    t23 = [v for v in _TABLE_23 if v in tests]
    t24 = [v for v in _TABLE_24 if v in tests]
    sizes = sorted(set(meta["eval_size"].values()))
    seeds = meta["seeds"]
    trains = list(meta["train_variants"])
    trained = (
        f"Models trained on **{VARIANT_TITLES[trains[0]]}** (`{trains[0]}` training split)"
        if len(trains) == 1
        else "Models trained on "
        + " and ".join(f"**{VARIANT_TITLES[t]}** (`{t}`)" for t in trains)
        + " training splits; in the thesis-layout tables each column comes from the models trained on "
        "its own variant when there are some, else from those trained on "
        f"{VARIANT_TITLES[_source('', trains)]} (as Table 2.3: CLEVR from CLEVR-trained models, the rest "
        "from CLEVRTEX-trained ones), and the transfer table has every pairing"
    )
    parts = [
        "# ClevrTex benchmark",
        "",
        f"{trained}. Seeds {', '.join(map(str, seeds))}, preset `{meta['preset']}`"
        + (f", overrides `{' '.join(meta['overrides'])}`" if meta["overrides"] else "")
        + f"; scored with the `clevrtex` protocol on the test splits at {' / '.join(f'{s}x{s}' for s in sizes)}"
        + (" (predictions resized)" if meta["resize"] else "")
        + f". Data: `{meta['root']}`. Device: {meta['device']}. spelke {meta['spelke_version']}, "
        f"torch {meta['torch_version']}, {meta['date']}.",
        "",
        f"mIoU and FG-ARI in %, MSE the per-image sum of squared errors over 3 x H x W (the thesis' scale at "
        f"128 x 128); {'mean ± sample standard deviation over ' + str(len(seeds)) + ' seeds' if len(seeds) > 1 else 'one seed'}."
        + (
            f" References that learn nothing (one run; no reconstruction, so no MSE): "
            f"{' and '.join(meta['baselines'])}."
            if meta.get("baselines")
            else ""
        ),
        "",
    ]
    if t23:
        parts.append(_table("Table 2.3 layout: mIoU (%) ↑ and MSE ↓", rows, names, t23,
                            [("miou", "mIoU", 2), ("mse", "MSE", 0)], trains, len(seeds)))  # fmt: skip
    if t24:
        parts.append(_table("Table 2.4 layout: mIoU (%) ↑ and MSE ↓", rows, names, t24,
                            [("miou", "mIoU", 2), ("mse", "MSE", 0)], trains, len(seeds)))  # fmt: skip
    if t23:
        parts.append(_table("Table B.1 layout: FG-ARI (%) ↑ and mIoU (%) ↑", rows, names, t23,
                            [("fg_ari", "FG-ARI", 2), ("miou", "mIoU", 2)], trains, len(seeds)))  # fmt: skip
    if t24:
        parts.append(_table("Table B.2 layout: FG-ARI (%) ↑ and mIoU (%) ↑", rows, names, t24,
                            [("fg_ari", "FG-ARI", 2), ("miou", "mIoU", 2)], trains, len(seeds)))  # fmt: skip
    if len(trains) > 1:
        models = list(meta["models"])
        parts.append(_transfer_table(rows, models, trains, [v for v in VARIANT_ORDER if v in tests]))
    parts.append(_attribute_table(rows, names, [v for v in VARIANT_ORDER if v in tests], trains))
    parts.append(_compute_table(compute))
    if pictures:
        parts += [
            "### Decompositions",
            "",
            "Image, reconstruction, segmentation, then each slot's mask x reconstruction.",
            "",
        ]
        parts += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in pictures]
        parts.append("")
    return "\n".join(parts)


def _attribute_table(
    rows: list[dict[str, Any]], names: list[str], variants: list[str], trains: list[str]
) -> str:
    head = ["Model", "attribute", "value"] + [VARIANT_TITLES[v] for v in variants]
    lines = ["### Per attribute: mIoU (%) of the objects with each attribute value", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]  # fmt: skip
    n = 0
    for name in names:
        for attr in ATTRIBUTES:
            values = sorted({r["value"] for r in rows if r["model"] == name and r["attribute"] == attr})
            for value in values:
                cells = [name, attr, value]
                for v in variants:
                    st = next((r for r in rows if r["model"] == name and r["train_variant"] in (_source(v, trains), "")
                               and r["test_variant"] == v and r["attribute"] == attr and r["value"] == value),
                              None)  # fmt: skip
                    cells.append(_cell(st, 2))
                lines.append("| " + " | ".join(cells) + " |")
                n += 1
    if not n:
        lines.append("| " + " | ".join(["-"] * len(head)) + " |")
    return "\n".join(lines) + "\n"


def _compute_table(compute: list[dict[str, Any]]) -> str:
    lines = [
        "### Table 2.2 layout: compute on this machine",
        "",
        "| Model | Trained on | Device | Input | Batch | Steps | Train. time (s) | s / step | Inf. time (ms ± σ, 7 passes) | Peak mem. (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in compute:
        train_s = f"{c['train_seconds']:.1f}" + (f" ± {c['train_seconds_std']:.1f}" if c["runs"] > 1 else "")
        lines.append(
            f"| {c['model']} | {VARIANT_TITLES.get(c.get('train_variant', ''), '-')} | {c['device']} | {c['input']} | {c['batch']} | {c['steps']} | {train_s} | "
            f"{c['seconds_per_step']:.3f} | {c['infer_ms']:.1f} ± {c['infer_ms_std']:.1f} (batch {c['infer_batch']}) | "
            f"{c['peak_mb']:.0f} ({c['peak_kind']}) |"
        )
    lines.append("")
    lines.append(
        "Training time is summed over the calls that trained (a resumed run adds its part); CPU peak memory "
        "is the process' resident high-water mark so far, so it includes everything run before."
    )
    return "\n".join(lines) + "\n"
