"""``spelke demo``: the whole pipeline, end to end, on a laptop CPU in minutes.

1. **Generate** a small Moving ClevrTex set with spelke's Blender generator (training clips, held-out clips
   from another seed, and ClevrTex still images), with rendered ground-truth optical flow.
2. **Train** PPMP (thesis Ch. 4: K slots whose flow is probable under a motion prior) and GWM (Ch. 3: a
   foreground whose flow is simple) on the training clips' flow, each for a share of the time budget
   (the step count is measured, not guessed: a few calibration steps time the machine).
3. **Segment** the held-out clips and the stills from single frames (no flow at test time).
4. **Evaluate** beside baselines: the same networks untrained; K-means on flow; K-means on colour and
   position; thresholding the flow magnitude. PPMP and the multi-object baselines are scored with the
   ``movi`` protocol (FG-ARI, mIoU per frame, all objects) on the clips and the ``clevrtex`` protocol on
   the stills; GWM and the foreground baselines with ``davis2016`` (J) against the moving objects.
5. **Report**: one self-contained HTML file (metrics tables, training curves, GIFs of frames, flow,
   predictions and ground truth), plus metrics JSON and a manifest, in the run directory.

Every stage prints its elapsed time. Stages resume: generated data, trained checkpoints and predictions
already in the run directory are reused when the command is run again with the same settings.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spelke.data.io import read_json, read_label_map, write_image, write_json, write_label_map
from spelke.errors import ConfigError, SpelkeError

#: Free disk the demo wants before it starts (data, checkpoints, predictions, report; default settings use
#: about 60 MB).
MIN_FREE_BYTES = 500 * 1024**2


@dataclass
class DemoConfig:
    """What ``spelke demo`` does (defaults: about 8.5 minutes on 2 CPU cores).

    Attributes:
        clips: training clips.
        test_clips: held-out clips (another seed).
        stills: ClevrTex still images (variant ``full``).
        frames: frames per clip.
        size: frame size (H, W) of clips and stills.
        samples: Cycles samples per pixel (denoised).
        minutes: wall-clock budget of the whole run; training gets what generation leaves.
        seed: seed of every random choice.
        ppmp_share: share of the training time for PPMP; GWM gets the rest, and PPMP also what GWM leaves
            unused (its preset caps its steps).
        kmeans_k: clusters of the multi-object K-means baselines.
        min_steps: at least this many training steps per method, whatever the budget.
        tta_steps: GWM's test-time adaptation steps per held-out clip (thesis App. C.3.1: 20).
    """

    clips: int = 24
    test_clips: int = 12
    stills: int = 8
    frames: int = 6
    size: tuple[int, int] = (96, 96)
    samples: int = 8
    minutes: float = 8.5
    seed: int = 0
    ppmp_share: float = 0.65
    kmeans_k: int = 6
    min_steps: int = 20
    tta_steps: int = 20

    def __post_init__(self) -> None:
        self.size = (int(self.size[0]), int(self.size[1]))
        if self.clips < 1 or self.test_clips < 1:
            raise ConfigError(f"--clips must be at least 1, got {self.clips} (held-out: {self.test_clips})")
        if self.frames < 3:
            raise ConfigError(f"--frames must be at least 3 (flow gaps of 1 and 2), got {self.frames}")
        if min(self.size) < 32:
            raise ConfigError(f"--size must be at least 32x32, got {self.size[0]}x{self.size[1]}")
        if self.minutes <= 0:
            raise ConfigError(f"--minutes must be positive, got {self.minutes}")
        if self.stills < 0:
            raise ConfigError(f"--stills must be at least 0, got {self.stills}")


def preflight(out: Path, need: int = MIN_FREE_BYTES) -> None:
    """Check, before anything runs, that Blender (``synth`` extra), the learning stack (``torch`` extra)
    and enough free disk are there; the error says what is missing and how to get it."""
    missing = []
    try:
        import bpy  # noqa: F401
    except Exception as e:  # bpy raises more than ImportError when its libraries are missing
        missing.append(
            f"Blender as a Python module ({type(e).__name__}: {e}); install it with "
            "pip install 'spelke[synth]' (bpy 4.2 needs Python 3.11)"
        )
    for mod, what in (("torch", "PyTorch"), ("lightning", "Lightning")):
        try:
            __import__(mod)
        except ImportError:
            missing.append(f"{what}; install it with pip install 'spelke[torch]'")
    if missing:
        raise SpelkeError("spelke demo cannot start; missing: " + "; ".join(missing))
    probe = Path(out).resolve()
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need:
        raise SpelkeError(
            f"spelke demo needs about {need / 1024**2:.0f} MB free under {probe}; only "
            f"{free / 1024**2:.0f} MB are free. Free some space or pass --out on another disk."
        )


class _Stages:
    """Numbered stages that print their elapsed time."""

    def __init__(self, say: Callable[[str], None], total: int) -> None:
        self.say, self.total, self.n = say, total, 0
        self.seconds: dict[str, float] = {}
        self.t0 = time.perf_counter()

    @contextmanager
    def stage(self, key: str, text: str) -> Iterator[None]:
        self.n += 1
        self.say(f"[bold]{self.n}/{self.total}[/bold] {text}")
        t = time.perf_counter()
        yield
        self.seconds[key] = time.perf_counter() - t
        self.say(f"    {key}: {self.seconds[key]:.1f} s (total {self.elapsed():.1f} s)")

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


def _generate(cfg: DemoConfig, data: Path, progress: Any) -> dict[str, Path]:
    from spelke.synth.generate import GenerateConfig, generate_images
    from spelke.synth.moving import VideoConfig, generate_videos

    roots = {"train": data / "train", "test": data / "test", "stills": data / "stills"}
    common = {"frames": cfg.frames, "size": cfg.size, "samples": cfg.samples, "denoise": True}
    gaps = (1, -1, 2, -2)
    generate_videos(
        VideoConfig(num=cfg.clips, seed=cfg.seed, gaps=gaps, **common), roots["train"], progress=progress
    )
    generate_videos(
        VideoConfig(num=cfg.test_clips, seed=cfg.seed + 1000, gaps=gaps, **common),
        roots["test"],
        progress=progress,
    )
    if cfg.stills:
        generate_images(
            GenerateConfig(
                variant="full",
                num=cfg.stills,
                size=cfg.size,
                samples=cfg.samples,
                denoise=True,
                seed=cfg.seed + 2000,
                shadow_samples=0,
            ),
            roots["stills"],
            progress=progress,
        )
    return roots


def _check_same_settings(out: Path, cfg: DemoConfig) -> None:
    """A run directory holds one demo: refuse other data or model settings (a new ``--minutes`` is fine:
    finished stages are reused and training resumes with the step counts planned first)."""
    mine = {**asdict(cfg), "size": list(cfg.size)}
    mine.pop("minutes")
    f = out / "demo_config.json"
    if f.is_file():
        old = {k: v for k, v in read_json(f).items() if k != "minutes"}
        diff = sorted(k for k in set(old) | set(mine) if old.get(k) != mine.get(k))
        if diff:
            raise ConfigError(
                f"{out} holds a demo run with other settings ("
                + ", ".join(f"{k}: {old.get(k)} -> {mine.get(k)}" for k in diff)
                + "); pass another --out, or delete that folder to start over"
            )
    write_json(f, {**mine, "minutes": cfg.minutes})


def _step_seconds(method: Any, dataset: Any, seed: int, steps: int = 8, warmup: int = 2) -> float:
    """Seconds per training step of ``method`` on this machine: the median of ``steps`` steps after
    ``warmup`` more. The steps cycle over two batches, so that their frames are decoded once and cached as
    in training (with 3 steps on fresh frames PPMP measured 0.17 s per step and then trained at 0.14)."""
    import torch

    from spelke.engine.data import collate
    from spelke.engine.method import make_optimizer

    torch.manual_seed(seed)
    frames = method.make_dataset(dataset, seed=seed)
    model = method.build_model().train()
    s = method.optim_settings()
    opt = make_optimizer(model, s, 1e-4)
    times = []
    for k in range(steps + warmup):
        t = time.perf_counter()
        batch = collate([frames[((k % 2) * s.batch_size + i) % len(frames)] for i in range(s.batch_size)])
        loss = method.training_loss(model, batch, 0)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return float(np.median(times[warmup:]))


def _steps_for(seconds: float, per_step: float, min_steps: int, max_steps: int) -> int:
    """Training steps that fit in ``seconds`` at ``per_step`` seconds each, within [min_steps, max_steps]."""
    return max(min_steps, min(max_steps, int(seconds / per_step)))


def _budget_overrides(name: str, steps: int) -> list[str]:
    """A CPU preset shortened to ``steps``: warm-up, decay and annealing scale with the run."""
    over = [f"max_steps={steps}", f"warmup_steps={max(1, min(150, steps // 10))}"]
    if name == "ppmp":
        over += [f"lr_milestones=[{max(1, int(0.8 * steps))}]", f"beta_steps={max(1, int(0.3 * steps))}"]
    return over


def _untrained(method: Any, seed: int, path: Path) -> Path:
    import torch

    from spelke.engine.checkpoint import make_header, save_weights

    if path.is_file():
        return path
    torch.manual_seed(seed)
    model = method.build_model()
    return save_weights(
        path, make_header(method.name, method.model_name, method.config_dict()), model.state_dict()
    )


def _baselines(cfg: DemoConfig, test: Path, stills_ds: Any, preds: Path) -> None:
    """Flow and colour baselines on every held-out frame (flow of the next frame, the previous for the last)
    and K-means on colour and position on the stills."""
    from spelke.data import create_dataset
    from spelke.data.datasets.flow_access import cached_flow
    from spelke.methods.baselines import (
        flow_threshold,
        kmeans_colour_position,
        kmeans_flow,
        kmeans_flow_binary,
    )

    ds = create_dataset("moving-clevrtex", root=test)
    for seq in ds.sequences:
        names = ds.frame_names(seq)
        for i, n in enumerate(names):
            key = Path(seq) / f"{n}.png"
            if (preds / "kmeans-colour" / key).is_file():
                continue
            f = cached_flow(test, seq, n, i, 1 if i + 1 < len(names) else -1, "gt")
            write_label_map(preds / "flow-threshold" / key, flow_threshold(f).astype(np.int64))
            write_label_map(preds / "kmeans-flow-2" / key, kmeans_flow_binary(f, cfg.seed).astype(np.int64))
            write_label_map(preds / "kmeans-flow" / key, kmeans_flow(f, cfg.kmeans_k, cfg.seed) + 1)
            write_label_map(
                preds / "kmeans-colour" / key,
                kmeans_colour_position(ds.image(seq, i), cfg.kmeans_k, seed=cfg.seed) + 1,
            )
    if stills_ds is not None:
        for i, n in enumerate(stills_ds.names):
            p = preds / "kmeans-colour-stills" / "predictions" / f"{n}.png"
            if not p.is_file():
                write_label_map(
                    p, kmeans_colour_position(stills_ds.image(i), cfg.kmeans_k, seed=cfg.seed) + 1
                )


def run_demo(
    out: Path,
    config: DemoConfig | None = None,
    *,
    console: Any = None,
    train_progress: bool = True,
) -> Path:
    """Run the pipeline demo into ``out`` and return the path of its HTML report (module docstring)."""
    from spelke.data import create_dataset
    from spelke.engine.trainer import read_metrics_csv, train
    from spelke.evaluate import run_evaluation, write_result
    from spelke.methods.registry import create_method
    from spelke.methods.segment import segment, segment_stills

    cfg = config or DemoConfig()
    out = Path(out)

    def say(msg: str) -> None:
        if console is not None:
            console.print(msg)

    preflight(out)
    _check_same_settings(out, cfg)
    st = _Stages(say, 5)

    def rendered(done: int, total: int, name: str) -> None:
        if done == total or done % max(1, total // 4) == 0:
            say(f"    rendered {done}/{total} ({name})")

    h, w = cfg.size
    with st.stage(
        "generate",
        f"generating {cfg.clips} training and {cfg.test_clips} held-out Moving ClevrTex clips of {cfg.frames} "
        f"frames and {cfg.stills} ClevrTex stills at {h}x{w} with Blender ({cfg.samples} samples, denoised)",
    ):
        roots = _generate(cfg, out / "data", rendered)
    train_ds = create_dataset("moving-clevrtex", root=roots["train"])
    test = roots["test"]
    stills_ds = create_dataset("clevrtex", root=roots["stills"], split=None) if cfg.stills else None

    # time left for training: the budget minus what is spent and a reserve for segmentation, evaluation
    # and the report (measured: well under a minute at the defaults)
    reserve = 20.0 + 0.05 * (cfg.test_clips * cfg.frames + cfg.stills) + 0.15 * cfg.tta_steps * cfg.test_clips
    train_budget = max(cfg.minutes * 60 - st.elapsed() - reserve, 10.0)
    methods: dict[str, Any] = {}
    runs: dict[str, dict[str, Any]] = {}
    with st.stage(
        "train", f"training PPMP and GWM on the training clips' flow ({train_budget:.0f} s in all)"
    ):
        # GWM is planned first: its preset caps its steps, and PPMP gets whatever GWM leaves of the budget
        plans: dict[str, int] = {}
        left = train_budget
        for name, share in (("gwm", 1 - cfg.ppmp_share), ("ppmp", 1.0)):
            plan_file = out / "runs" / name / "demo_plan.json"
            if plan_file.is_file():  # a run started before: keep its step count (resume, do not recalibrate)
                plan = read_json(plan_file)
                steps, per_step = int(plan["steps"]), float(plan["seconds_per_step"])
                say(f"    {name}: {steps} steps (planned by an earlier run)")
            else:
                base = create_method(name, "cpu", ["flow_backend=gt", f"input_size={h}x{w}"])
                per_step = _step_seconds(base, train_ds, cfg.seed)
                seconds = min(share * train_budget, left)
                steps = _steps_for(seconds, per_step, cfg.min_steps, base.config.max_steps)
                write_json(plan_file, {"steps": steps, "seconds_per_step": per_step})
                say(f"    {name}: {per_step:.2f} s per step -> {steps} steps")
            plans[name] = steps
            left = max(left - steps * per_step, 0.0)
        for name in ("ppmp", "gwm"):
            steps = plans[name]
            m = create_method(
                name, "cpu", ["flow_backend=gt", f"input_size={h}x{w}", *_budget_overrides(name, steps)]
            )
            res = train(m, train_ds, out / "runs" / name, seed=cfg.seed, progress=train_progress)
            methods[name] = m
            runs[name] = {"steps": res.steps, "seconds": round(res.seconds, 1), "weights": res.weights}

    preds = out / "predictions"
    with st.stage(
        "segment", "segmenting held-out clips and stills from single frames (no flow), and baselines"
    ):
        for name in ("ppmp", "gwm"):
            segment(runs[name]["weights"], test, preds / name, overlays=True, overwrite=False)
            w0 = _untrained(methods[name], cfg.seed, out / "runs" / f"{name}-untrained" / "final.pt")
            segment(w0, test, preds / f"{name}-untrained", overlays=False)
        # GWM's test-time adaptation (thesis App. C.3.1): 20 steps of its loss on each held-out clip's flow
        segment(runs["gwm"]["weights"], test, preds / "gwm-tta", tta_steps=cfg.tta_steps, overlays=False)
        if stills_ds is not None:
            segment_stills(runs["ppmp"]["weights"], stills_ds, preds / "ppmp-stills")
            segment_stills(
                out / "runs" / "ppmp-untrained" / "final.pt",
                stills_ds,
                preds / "ppmp-untrained-stills",
                overlays=0,
            )
        _baselines(cfg, test, stills_ds, preds)

    results: list[dict[str, Any]] = []
    with st.stage("evaluate", "scoring with the movi, davis2016 and clevrtex protocols"):
        plan = [
            ("clips", "movi", "PPMP", preds / "ppmp", test, {"split": "all"}),
            ("clips", "movi", "PPMP untrained", preds / "ppmp-untrained", test, {"split": "all"}),
            (
                "clips",
                "movi",
                f"K-means on flow (k={cfg.kmeans_k})",
                preds / "kmeans-flow",
                test,
                {"split": "all"},
            ),
            (
                "clips",
                "movi",
                f"K-means colour+position (k={cfg.kmeans_k})",
                preds / "kmeans-colour",
                test,
                {"split": "all"},
            ),
            (
                "clips",
                "movi",
                "PPMP without post-processing",
                preds / "ppmp" / "predictions-raw",
                test,
                {"split": "all"},
            ),
            (
                "moving",
                "davis2016",
                "GWM",
                preds / "gwm",
                test,
                {"split": "all", "annotations": "AnnotationsMoving"},
            ),
            (
                "moving",
                "davis2016",
                f"GWM + test-time adaptation ({cfg.tta_steps} steps per clip, sees flow)",
                preds / "gwm-tta",
                test,
                {"split": "all", "annotations": "AnnotationsMoving"},
            ),
            (
                "moving",
                "davis2016",
                "GWM untrained",
                preds / "gwm-untrained",
                test,
                {"split": "all", "annotations": "AnnotationsMoving"},
            ),
            (
                "moving",
                "davis2016",
                "flow threshold (sees flow)",
                preds / "flow-threshold",
                test,
                {"split": "all", "annotations": "AnnotationsMoving"},
            ),
            (
                "moving",
                "davis2016",
                "K-means on flow, 2 clusters (sees flow)",
                preds / "kmeans-flow-2",
                test,
                {"split": "all", "annotations": "AnnotationsMoving"},
            ),
        ]
        if stills_ds is not None:
            plan += [
                ("stills", "clevrtex", "PPMP", preds / "ppmp-stills", roots["stills"], {"split": "all"}),
                (
                    "stills",
                    "clevrtex",
                    "PPMP untrained",
                    preds / "ppmp-untrained-stills",
                    roots["stills"],
                    {"split": "all"},
                ),
                (
                    "stills",
                    "clevrtex",
                    f"K-means colour+position (k={cfg.kmeans_k})",
                    preds / "kmeans-colour-stills",
                    roots["stills"],
                    {"split": "all"},
                ),
            ]
        for group, proto, label, pred, gt, opts in plan:
            res = run_evaluation(proto, pred, gt, options=opts)
            slug = label.split(" (")[0].lower().replace(" ", "-").replace("+", "-").replace(",", "")
            write_result(res, out / "metrics" / f"{group}__{proto}__{slug}.json")
            s = res.summary
            row: dict[str, Any] = {"method": label}
            if proto == "davis2016":
                row.update({"J (frame mean)": s["J_frame_mean"], "J (clip mean)": s["J_seq_mean"]})
            else:
                row.update({"FG-ARI": s["fg_ari"], "mIoU": s["miou"]})
            results.append({"group": group, "protocol": f"{proto} v{res.version}", **row})

    with st.stage("report", "writing the HTML report"):
        report = _report(cfg, out, roots, preds, runs, results, read_metrics_csv, st)
    total = st.elapsed()
    write_json(
        out / "manifest.json",
        {
            "command": "spelke demo",
            "config": {**asdict(cfg), "size": list(cfg.size)},
            "timings_s": {**{k: round(v, 1) for k, v in st.seconds.items()}, "total": round(total, 1)},
            "training": {
                k: {kk: str(vv) if kk == "weights" else vv for kk, vv in v.items()} for k, v in runs.items()
            },
            "results": results,
        },
    )
    for r in results:
        vals = ", ".join(f"{k} {v:.3f}" for k, v in r.items() if isinstance(v, float))
        say(f"  {r['group']:<7} {r['method']:<44} {vals}")
    say(
        f"done in {total:.0f} s ({total / 60:.1f} min): "
        + ", ".join(f"{k} {v:.0f} s" for k, v in st.seconds.items())
    )
    return report


def _report(cfg, out, roots, preds, runs, results, read_metrics_csv, st) -> Path:
    from spelke.data import create_dataset
    from spelke.data.datasets.flow_access import cached_flow
    from spelke.viz import HtmlReport, colorize, flow_to_color, image_grid, overlay

    h, w = cfg.size
    rep = HtmlReport("spelke demo: learning to segment objects from motion")
    rep.paragraph(
        f"Everything here was made by one command (spelke demo, seed {cfg.seed}) on this machine: "
        f"{cfg.clips} Moving ClevrTex training clips and {cfg.test_clips} held-out clips of {cfg.frames} frames at "
        f"{h}x{w}, and {cfg.stills} ClevrTex stills, rendered with Blender; PPMP and GWM trained on the "
        "training clips' rendered optical flow; held-out clips and stills segmented from single frames "
        "(the networks never see flow at test time). Baselines marked 'sees flow' are given the flow of the "
        "held-out frames."
    )
    groups = {
        "clips": "Held-out clips, all objects (movi protocol: FG-ARI and mIoU per frame)",
        "moving": "Held-out clips, moving objects (davis2016 protocol: J)",
        "stills": "ClevrTex stills (clevrtex protocol: 0.8 centre crop, 128x128)",
    }
    rep.heading("Results")
    for g, title in groups.items():
        rows = [{k: v for k, v in r.items() if k != "group"} for r in results if r["group"] == g]
        if rows:
            rep.table(rows, caption=title + ". Higher is better.")
    rep.heading("Training")
    rep.table([{"method": k.upper(), "steps": v["steps"], "seconds": v["seconds"]} for k, v in runs.items()])
    for name in runs:
        rows = read_metrics_csv(out / "runs" / name)
        key = "train/nll" if name == "ppmp" else "train/flow"
        pts = [(r["step"], r[key]) for r in rows if key in r]
        if pts:
            xs, ys = zip(*pts, strict=True)
            rep.line_chart(
                {key.split("/")[1]: (xs, ys)},
                title=f"{name.upper()} training loss",
                xlabel="step",
                ylabel="loss per image",
            )
    ds = create_dataset("moving-clevrtex", root=roots["test"])
    cols = ["frame", "flow", "ground truth", "PPMP", "GWM", "moving objects"]
    for seq in ds.sequences[:2]:
        names = ds.frame_names(seq)
        frames = []
        for i, n in enumerate(names):
            img = ds.image(seq, i)
            f = cached_flow(roots["test"], seq, n, i, 1 if i + 1 < len(names) else -1, "gt")
            tiles = [
                img,
                flow_to_color(f),
                overlay(img, read_label_map(roots["test"] / "Annotations" / seq / f"{n}.png")),
                overlay(img, read_label_map(preds / "ppmp" / "predictions" / seq / f"{n}.png")),
                overlay(img, read_label_map(preds / "gwm" / "predictions" / seq / f"{n}.png")),
                overlay(img, read_label_map(roots["test"] / "AnnotationsMoving" / seq / f"{n}.png")),
            ]
            frames.append(image_grid(tiles, ncols=len(tiles), titles=cols))
        rep.gif(frames, fps=3, caption=f"held-out clip {seq}")
        write_image(out / "pictures" / f"clip-{seq}.png", frames[len(frames) // 2])
    if cfg.stills:
        sds = create_dataset("clevrtex", root=roots["stills"], split=None)
        tiles, titles = [], []
        for i, n in enumerate(sds.names[:4]):
            img = sds.image(i)
            tiles += [
                img,
                overlay(img, sds.labels(i)),
                colorize(read_label_map(preds / "ppmp-stills" / "predictions" / f"{n}.png")),
                colorize(read_label_map(preds / "kmeans-colour-stills" / "predictions" / f"{n}.png")),
            ]
            titles += ["still", "ground truth", "PPMP", "K-means"]
        grid = image_grid(tiles, ncols=4, titles=titles)
        rep.image(grid, caption="ClevrTex stills (128x128 centre crops)")
        write_image(out / "pictures" / "stills.png", grid)
    rep.heading("Timings (seconds)")
    rep.table([{"stage": k, "seconds": round(v, 1)} for k, v in st.seconds.items()])
    path = out / "report.html"
    rep.save(path)
    return path
