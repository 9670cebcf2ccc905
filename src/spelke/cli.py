"""The ``spelke`` command line: one Typer app, each sub-command a thin shell over a library call.

Bad input exits with status 2 and one line saying what was wrong and what was expected; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from spelke import __version__
from spelke.errors import ConfigError, SpelkeError

app = typer.Typer(
    name="spelke",
    help=(
        "spelke: find and segment objects in images and video without mask annotations.\n\n"
        "Generate benchmarks, compute motion signals, train and run methods, and score every benchmark "
        "with one verified metric library. Start with `spelke demo`, see what exists with `spelke list`, "
        "and score predictions with `spelke evaluate --protocol NAME --pred DIR --gt DIR`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)
_state: dict[str, bool] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        console.print(f"spelke {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    _state["debug"] = debug or os.environ.get("SPELKE_DEBUG", "") not in ("", "0")


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """``["frames=all", "split=val"]`` -> ``{"frames": "all", "split": "val"}``; no eval, no mini-language."""
    out: dict[str, str] = {}
    for p in pairs or []:
        if "=" not in p or p.startswith("="):
            raise ConfigError(f"option {p!r} is not of the form key=value (for example frames=all)")
        k, v = p.split("=", 1)
        out[k.strip()] = v
    return out


def _progress(it, total: int, description: str):
    from rich.progress import track

    if not console.is_terminal and not os.environ.get("SPELKE_PROGRESS"):
        return it
    return track(it, total=total, description=description, console=err_console, transient=True)


# --------------------------------------------------------------------------------------------------
# spelke list
# --------------------------------------------------------------------------------------------------

LISTABLE = (
    "protocols",
    "datasets",
    "methods",
    "metrics",
    "flow-backends",
    "trackers",
    "variants",
    "segmenters",
    "backbones",
    "features",
)


@app.command("list")
def list_cmd(
    what: Annotated[str, typer.Argument(help=f"What to list: {', '.join(LISTABLE)}, or all.")] = "all",
    pattern: Annotated[str, typer.Option("--pattern", "-p", help="Glob on names, e.g. '*oracle*'.")] = "*",
) -> None:
    """List what is registered: evaluation protocols, datasets, methods, metric functions."""
    kinds = LISTABLE if what == "all" else (what if what.endswith("s") else what + "s",)
    for kind in kinds:
        if kind not in LISTABLE:
            raise ConfigError(f"cannot list '{what}'; choose one of: {', '.join(LISTABLE)}, all")
        rows = _registered(kind, pattern)
        table = Table(title=f"{kind} ({len(rows)})", title_justify="left", show_lines=False)
        table.add_column("name", style="bold cyan", no_wrap=True)
        table.add_column("description")
        for name, desc in rows:
            table.add_row(name, desc)
        if not rows:
            table.add_row("-", "none registered yet" if pattern == "*" else f"nothing matches {pattern!r}")
        console.print(table)


def _registered(kind: str, pattern: str) -> list[tuple[str, str]]:
    if kind == "protocols":
        from spelke.eval.protocols import PROTOCOLS

        return [(e.name, e.summary) for e in PROTOCOLS.entries(pattern)]
    if kind == "datasets":
        from spelke.data import DATASETS

        return [
            (e.name, e.summary + (f" (aliases: {', '.join(e.aliases)})" if e.aliases else ""))
            for e in DATASETS.entries(pattern)
        ]
    if kind == "metrics":
        import fnmatch

        import spelke.eval as ev

        return [
            (n, (getattr(ev, n).__doc__ or "").strip().splitlines()[0])
            for n in sorted(ev.__all__)
            if fnmatch.fnmatchcase(n, pattern) and callable(getattr(ev, n)) and not n[0].isupper()
        ]
    if kind == "flow-backends":
        from spelke.motion import FLOW_BACKENDS, list_flow_backends

        return [(n, FLOW_BACKENDS.entry(n).summary) for n in list_flow_backends(pattern)]
    if kind == "trackers":
        from spelke.motion.tracks import TRACKERS, list_trackers

        return [(n, TRACKERS.entry(n).summary) for n in list_trackers(pattern)]
    if kind == "variants":
        from spelke.synth.variants import VARIANTS

        return [(e.name, f"{e.summary} (on disk: {e.tags['key']})") for e in VARIANTS.entries(pattern)]
    if kind == "methods":
        from spelke.methods.config import list_presets
        from spelke.methods.registry import METHODS, list_methods

        return [
            (n, f"{METHODS.entry(n).summary} (presets: {', '.join(['paper', *list_presets(n)])})")
            for n in list_methods(pattern)
        ]
    if kind == "segmenters":
        from spelke.models import SEGMENTERS, list_segmenters

        return [(n, SEGMENTERS.entry(n).summary) for n in list_segmenters(pattern)]
    if kind == "backbones":
        from spelke.models.backbones import BACKBONES, list_backbones

        return [(n, BACKBONES.entry(n).summary) for n in list_backbones(pattern)]
    if kind == "features":
        from spelke.features import FEATURE_EXTRACTORS, list_feature_extractors

        return [(n, FEATURE_EXTRACTORS.entry(n).summary) for n in list_feature_extractors(pattern)]
    raise ConfigError(f"unknown kind {kind}")


# --------------------------------------------------------------------------------------------------
# spelke evaluate
# --------------------------------------------------------------------------------------------------


@app.command(
    "evaluate",
    epilog=(
        "Examples:\n\n"
        "  spelke evaluate --protocol davis2016 --pred runs/gwm/davis/predictions --gt data/DAVIS\n\n"
        "  spelke evaluate --protocol clevrtex --pred preds/ --gt data/ClevrTex split=test variant=camo\n\n"
        "  spelke evaluate --protocol davis2016-oracle-gwm --pred segs/ --gt data/DAVIS frames=all --out m.json"
    ),
)
def evaluate_cmd(
    protocol: Annotated[
        str, typer.Option("--protocol", "-P", help="A registered protocol (spelke list protocols).")
    ],
    pred: Annotated[
        Path, typer.Option("--pred", help="Prediction folder (or a run directory with predictions/).")
    ],
    gt: Annotated[Path, typer.Option("--gt", help="Ground-truth root in the benchmark's own layout.")],
    options: Annotated[
        list[str] | None,
        typer.Argument(help="Protocol options as key=value, e.g. split=val frames=no-first."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write results JSON here, and <stem>_<table>.csv beside it."),
    ] = None,
    gallery: Annotated[
        int, typer.Option("--gallery", help="With --out: write pictures of the N best and N worst items.")
    ] = 0,
    show: Annotated[
        int, typer.Option("--show", help="Rows of the per-sequence/per-attribute table to print.")
    ] = 20,
) -> None:
    """Score predictions against ground truth with a named, versioned protocol.

    Prints the headline numbers and the per-sequence (or per-attribute) table; with --out writes JSON and
    CSV files. Missing prediction files, shape mismatches and unreadable files are reported by name.
    """
    from spelke.evaluate import run_evaluation

    t0 = time.perf_counter()
    opts = parse_options(options)
    if gallery and out is None:
        raise ConfigError("--gallery needs --out (the gallery is written beside the results file)")
    result = run_evaluation(protocol, pred, gt, out=out, options=opts, gallery=gallery, progress=_progress)
    print_result(result, show=show)
    if out is not None:
        console.print(
            f"[dim]results written to {out.with_suffix('.json')} ({time.perf_counter() - t0:.1f} s)[/dim]"
        )


def print_result(result: Any, show: int = 20) -> None:
    """Print a result's notes, its summary table and the first rows of its main table."""
    for note in result.notes:
        err_console.print(f"[yellow]note:[/yellow] {note}")
    table = Table(title=f"{result.protocol} v{result.version}", title_justify="left")
    table.add_column("metric", style="cyan")
    table.add_column("value", justify="right")
    for k, v in result.summary.items():
        style = "bold" if k == result.headline else ""
        table.add_row(f"[{style}]{k}[/{style}]" if style else k, _fmt(v))
    console.print(table)
    for name in ("per_sequence", "per_attribute"):
        rows = result.tables.get(name) or []
        if not rows or show <= 0:
            continue
        cols: list[str] = []
        for r in rows:
            cols += [c for c in r if c not in cols]
        t = Table(
            title=f"{name.replace('_', ' ')} ({len(rows)} rows{', first ' + str(show) if len(rows) > show else ''})",
            title_justify="left",
        )
        for c in cols:
            t.add_column(c, justify="left" if c in ("sequence", "attribute", "value") else "right")
        for r in rows[:show]:
            t.add_row(*[_fmt(r.get(c)) for c in cols])
        console.print(t)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if v != v else f"{v:.4f}"
    return "" if v is None else str(v)


# --------------------------------------------------------------------------------------------------
# spelke demo
# --------------------------------------------------------------------------------------------------


@app.command(
    "demo",
    epilog=(
        "Examples:\n\n"
        "  spelke demo                                   (about 8.5 minutes on 2 CPU cores)\n\n"
        "  spelke demo --clips 96 --minutes 30 --size 128x128 --out runs/demo-big\n\n"
        "Open OUT/report.html afterwards; OUT/metrics holds every score as JSON."
    ),
)
def demo_cmd(
    out: Annotated[
        Path, typer.Option("--out", help="Run directory for data, checkpoints, predictions, metrics, report.")
    ] = Path("runs/demo"),
    clips: Annotated[int, typer.Option("--clips", help="Moving ClevrTex training clips to generate.")] = 24,
    test_clips: Annotated[int, typer.Option("--test-clips", help="Held-out clips (another seed).")] = 12,
    stills: Annotated[int, typer.Option("--stills", help="ClevrTex still images to test on.")] = 8,
    frames: Annotated[int, typer.Option("--frames", help="Frames per clip.")] = 6,
    size: Annotated[str, typer.Option("--size", help="Frame size HxW (as in spelke generate).")] = "96x96",
    minutes: Annotated[
        float, typer.Option("--minutes", help="Wall-clock budget; training gets what generation leaves.")
    ] = 8.5,
    seed: Annotated[int, typer.Option("--seed", help="Seed for every random choice.")] = 0,
) -> None:
    """The whole pipeline on a laptop CPU: generate Moving ClevrTex with Blender, train PPMP and GWM on its
    optical flow, segment held-out clips and ClevrTex stills from single frames, score them beside
    baselines (untrained networks, K-means on flow, K-means on colour and position, a flow threshold),
    and write one HTML report with tables, training curves and GIFs.

    Needs the synth and torch extras: pip install 'spelke[synth,torch]'. Each stage prints its time;
    running the command again reuses the data, checkpoints and predictions already in --out.
    """
    from spelke.demo import DemoConfig, run_demo

    try:
        h, w = (int(x) for x in size.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must look like HxW, e.g. 96x96; got {size!r}") from None
    cfg = DemoConfig(
        clips=clips,
        test_clips=test_clips,
        stills=stills,
        frames=frames,
        size=(h, w),
        minutes=minutes,
        seed=seed,
    )
    report = run_demo(out, cfg, console=console, train_progress=console.is_terminal)
    console.print(f"[bold green]report:[/bold green] {report}")


# --------------------------------------------------------------------------------------------------
# spelke flow
# --------------------------------------------------------------------------------------------------


@app.command(
    "flow",
    epilog=(
        "Examples:\n\n"
        "  spelke flow clip.mp4 --out data/clips --gaps 1,-1\n\n"
        "  spelke flow --dataset davis_tree --root data/DAVIS --gaps 1,2,-1,-2 --backend raft-large "
        "--option weights=raft_large.pth\n\n"
        "  spelke flow frames/ --backend dis --option preset=fast --shard 0/4   (or in a SLURM array)"
    ),
)
def flow_cmd(
    source: Annotated[
        Path | None,
        typer.Argument(
            help="A video file, a folder of frames (or of frame folders, or of videos), or a dataset root."
        ),
    ] = None,
    gaps: Annotated[
        str, typer.Option("--gaps", help="Signed frame gaps, comma-separated: 1,-1,2,-2.")
    ] = "1,-1",
    backend: Annotated[
        str, typer.Option("--backend", "-b", help="Flow backend (spelke list flow-backends).")
    ] = "dis",
    option: Annotated[
        list[str] | None,
        typer.Option("--option", help="Backend option key=value, repeatable: preset=fast, weights=PATH."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Cache root: writes OUT/flows/NAME/Flows_gap<k>/<seq>/<frame>.flo. "
            "Default: the dataset root (for a video file, its folder).",
        ),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Read the input with this registered sequence dataset.")
    ] = None,
    root: Annotated[Path | None, typer.Option("--root", help="The dataset root (instead of SOURCE).")] = None,
    split: Annotated[str | None, typer.Option("--split", help="Dataset split.")] = None,
    data_option: Annotated[
        list[str] | None, typer.Option("--data-option", help="Dataset option key=value, repeatable.")
    ] = None,
    sequence: Annotated[
        list[str] | None, typer.Option("--sequence", "-s", help="Only this sequence (repeatable).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Cache folder name under flows/ (default: the backend).")
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option("--shard", help="Compute shard i of n (i/n, from 0); default from SLURM_ARRAY_TASK_*."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Recompute files that exist.")] = False,
) -> None:
    """Compute optical flow into the flow cache: resumable, sharded, with a manifest.

    Writes the flow of every frame pair (t, t+k) for each gap k, named after the source frame t, as
    .flo files; existing complete files are skipped, so an interrupted run is simply started again.
    Unreadable frames, frames of different sizes and sequences shorter than a gap are reported by
    sequence and frame (exit status 2) while the rest is computed.
    """
    from spelke.motion.compute import compute_flow

    if source is not None and root is not None:
        raise ConfigError("give the input either as SOURCE or as --root, not both")
    report = compute_flow(
        source if source is not None else root,
        out,
        gaps=gaps,
        backend=backend,
        options=parse_options(option),
        dataset=dataset,
        split=split,
        data_options=parse_options(data_option),
        sequences=sequence or None,
        name=name,
        shard=shard,
        overwrite=overwrite,
        progress=_progress,
    )
    for e in report.errors[:20]:
        err_console.print(f"[bold red]error:[/bold red] {e}", highlight=False, soft_wrap=True)
    if len(report.errors) > 20:
        err_console.print(f"... and {len(report.errors) - 20} more errors", highlight=False)
    console.print(report.summary(), highlight=False, soft_wrap=True)
    if report.errors:
        raise SpelkeError(
            f"{len(report.errors)} sequence/frame error(s), listed above; the other flows were written"
        )


# --------------------------------------------------------------------------------------------------
# spelke tracks
# --------------------------------------------------------------------------------------------------


@app.command(
    "tracks",
    epilog=(
        "Examples:\n\n"
        "  spelke tracks clip.mp4 --out data/clips                      (flow-chain on DIS flow, LRTL's grid)\n\n"
        "  spelke tracks --dataset davis_tree --root data/DAVIS --flow-cache raft-large --shard 0/8\n\n"
        "  spelke tracks frames/ --tracker cotracker --option checkpoint=cotracker2.pth --option device=cuda"
    ),
)
def tracks_cmd(
    source: Annotated[
        Path | None,
        typer.Argument(
            help="A video file, a folder of frames (or of frame folders, or of videos), or a dataset root."
        ),
    ] = None,
    tracker: Annotated[
        str, typer.Option("--tracker", "-t", help="Tracker (spelke list trackers).")
    ] = "flow-chain",
    stride: Annotated[int, typer.Option("--stride", help="Query grid spacing in pixels (LRTL: 4).")] = 4,
    window: Annotated[
        int, typer.Option("--window", help="Frames tracked on each side of the query frame (LRTL: 20).")
    ] = 20,
    padding: Annotated[
        str, typer.Option("--padding", help="Window at the video's ends: reflect (LRTL), symmetric or none.")
    ] = "reflect",
    smooth: Annotated[
        int, typer.Option("--smooth", help="Box filter width along time, odd; 0 = off (LRTL: 11).")
    ] = 11,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option", help="Tracker option key=value, repeatable: checkpoint=PATH, photometric=0."
        ),
    ] = None,
    backend: Annotated[
        str, typer.Option("--backend", "-b", help="Flow backend of flow-chain (spelke list flow-backends).")
    ] = "dis",
    backend_option: Annotated[
        list[str] | None, typer.Option("--backend-option", help="Flow backend option key=value, repeatable.")
    ] = None,
    flow_cache: Annotated[
        str | None,
        typer.Option(
            "--flow-cache", help="Read flow (gaps 1,-1) from this flow cache instead of computing it."
        ),
    ] = None,
    flow_root: Annotated[
        Path | None, typer.Option("--flow-root", help="Root of the flow cache (default: --out).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Cache root: writes OUT/tracks/TRACKER/TAG/<seq>/<frame>.npz. "
            "Default: the dataset root (for a video file, its folder).",
        ),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Read the input with this registered sequence dataset.")
    ] = None,
    root: Annotated[Path | None, typer.Option("--root", help="The dataset root (instead of SOURCE).")] = None,
    split: Annotated[str | None, typer.Option("--split", help="Dataset split.")] = None,
    data_option: Annotated[
        list[str] | None, typer.Option("--data-option", help="Dataset option key=value, repeatable.")
    ] = None,
    sequence: Annotated[
        list[str] | None, typer.Option("--sequence", "-s", help="Only this sequence (repeatable).")
    ] = None,
    tag: Annotated[
        str | None, typer.Option("--tag", help="Config folder name (default from the settings).")
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option("--shard", help="Compute shard i of n (i/n, from 0); default from SLURM_ARRAY_TASK_*."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Recompute files that exist.")] = False,
) -> None:
    """Compute point tracks of every frame into the track cache: resumable, sharded, with a manifest.

    For each query frame, a grid of points (every --stride pixels) is tracked --window frames forwards
    and backwards and written as OUT/tracks/TRACKER/TAG/<seq>/<frame>.npz (xy, vis, t, size). flow-chain
    chains optical flow computed with --backend, or read from the flow cache with --flow-cache (make it
    with `spelke flow --gaps 1,-1`). Existing files are skipped, so an interrupted run is started again.
    """
    from spelke.motion.track_compute import compute_tracks

    if source is not None and root is not None:
        raise ConfigError("give the input either as SOURCE or as --root, not both")
    options: dict[str, Any] = {"stride": stride, "window": window, "padding": padding, "smooth": smooth}
    options.update(parse_options(option))
    report = compute_tracks(
        source if source is not None else root,
        out,
        tracker=tracker,
        options=options,
        backend=backend,
        backend_options=parse_options(backend_option),
        flow_cache=flow_cache,
        flow_root=flow_root,
        dataset=dataset,
        split=split,
        data_options=parse_options(data_option),
        sequences=sequence or None,
        tag=tag,
        shard=shard,
        overwrite=overwrite,
        progress=_progress,
    )
    for e in report.errors[:20]:
        err_console.print(f"[bold red]error:[/bold red] {e}", highlight=False, soft_wrap=True)
    if len(report.errors) > 20:
        err_console.print(f"... and {len(report.errors) - 20} more errors", highlight=False)
    console.print(report.summary(), highlight=False, soft_wrap=True)
    if report.errors:
        raise SpelkeError(
            f"{len(report.errors)} sequence/frame error(s), listed above; the other tracks were written"
        )


# --------------------------------------------------------------------------------------------------
# spelke generate
# --------------------------------------------------------------------------------------------------

GENERATABLE = ("clevrtex", "moving-clevrtex", "moving-clevr")


def _parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must look like HxW, e.g. 240x320 or 160x160; got {text!r}") from None
    return h, w


def _rich_progress(description: str):
    """A progress callback ``(done, total, message)`` with a bar and ETA on stderr, and its context."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[item]}"),
        console=err_console,
        disable=not (err_console.is_terminal or os.environ.get("SPELKE_PROGRESS")),
    )
    task = prog.add_task(description, total=None, item="")

    def update(done: int, total: int, message: str) -> None:
        prog.update(task, completed=done, total=total, item=message)

    return prog, update


@app.command(
    "generate",
    epilog=(
        "Examples:\n\n"
        "  spelke generate clevrtex --variant camo --num 100 --size 160x160 --out data   (CPU-sized)\n\n"
        "  spelke generate clevrtex --variant full --num 50000 --samples 512 --shard 3/100 --out data "
        "(the paper's set, one of 100 array tasks)\n\n"
        "  spelke generate moving-clevrtex --num 20 --frames 24 --size 128x128 --out data/mct\n\n"
        "  spelke generate moving-clevrtex --num 20 --frames 16 --size 96x96 --camera-rotation 1 --out data/mct-cam"
        " (a turning camera)\n\n"
        "  spelke generate --list-materials --out docs/images"
    ),
)
def generate_cmd(
    dataset: Annotated[
        str | None, typer.Argument(help=f"What to generate: {', '.join(GENERATABLE)}.")
    ] = None,
    variant: Annotated[
        str,
        typer.Option(
            "--variant",
            "-v",
            help="ClevrTex variant: full, plainbg (pbg), varbg (vbg), grassbg, camo, ood (outd), clevr.",
        ),
    ] = "full",
    num: Annotated[int, typer.Option("--num", "-n", help="Samples (or clips) in the whole dataset.")] = 10,
    size: Annotated[
        str, typer.Option("--size", help="Image size HxW; the official data is 240x320 (crop -> 192 -> 128).")
    ] = "240x320",
    samples: Annotated[int, typer.Option("--samples", help="Cycles samples per pixel (paper: 512).")] = 32,
    denoise: Annotated[
        bool, typer.Option("--denoise/--no-denoise", help="OpenImageDenoise the images.")
    ] = False,
    seed: Annotated[
        int, typer.Option("--seed", help="Dataset seed: the same seed gives the same scenes.")
    ] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output root.")] = Path("data"),
    shard: Annotated[
        str | None,
        typer.Option("--shard", help="Render shard i of n (i/n, from 0); default from SLURM_ARRAY_TASK_*."),
    ] = None,
    frames: Annotated[int, typer.Option("--frames", help="Video: rendered frames per clip (paper: 5).")] = 5,
    gaps: Annotated[
        str, typer.Option("--gaps", help="Video: ground-truth flow gaps to write, e.g. 1,-1,2,-2.")
    ] = "1,-1,2,-2",
    num_objects: Annotated[
        int | None, typer.Option("--num-objects", help="Fix the object count (default: uniform 3..10).")
    ] = None,
    camera_rotation: Annotated[
        float,
        typer.Option(
            "--camera-rotation",
            help="Video: the camera turns about its own centre, up to this many degrees per frame about "
            "each axis (drawn per clip); 0 = a static camera (the thesis).",
        ),
    ] = 0.0,
    shadow_samples: Annotated[
        int, typer.Option("--shadow-samples", help="Samples of the shadow-free render (0: no shadow map).")
    ] = 8,
    device: Annotated[str, typer.Option("--device", help="cpu, gpu or auto.")] = "cpu",
    threads: Annotated[int, typer.Option("--threads", help="CPU render threads (0: all).")] = 0,
    list_materials: Annotated[
        bool, typer.Option("--list-materials", help="Render a contact sheet of the material catalogue.")
    ] = False,
) -> None:
    """Render the ClevrTex family or Moving ClevrTex / Moving CLEVR with Blender (extra `synth`).

    Stills go to OUT/clevrtex_<key>/ in the official ClevrTex layout (image, _flat.png instance map,
    depth, normal, albedo and shadow maps, JSON metadata); clips go to OUT as a DAVIS-style tree with
    instance maps, depth and exact optical flow in flows/gt/. Samples are numbered from 0 whatever the
    sharding, a re-run skips what is finished, and a manifest records config, versions and checksums.
    """
    if list_materials:
        from spelke.synth.contact_sheet import render_contact_sheet
        from spelke.synth.materials import GROUPS
        from spelke.synth.materials import list_materials as names

        for group in GROUPS:
            path = Path(out) / f"materials_{group}.png"
            render_contact_sheet(path, group=group, progress=True)
            console.print(f"{group}: {len(names(group=group))} materials -> {path}", highlight=False)
        return
    if dataset is None:
        raise ConfigError(
            f"name what to generate: one of {', '.join(GENERATABLE)} (or pass --list-materials)"
        )
    if dataset not in GENERATABLE:
        raise ConfigError(f"cannot generate {dataset!r}; choose one of: {', '.join(GENERATABLE)}")
    from spelke._sharding import parse_shard

    shard_ij = parse_shard(shard)
    hw = _parse_size(size)
    t0 = time.perf_counter()
    if dataset == "clevrtex":
        from spelke.synth.generate import GenerateConfig, dataset_dir, generate_images
        from spelke.synth.variants import get_variant

        if camera_rotation:
            raise ConfigError(
                "--camera-rotation moves the camera of a clip; stills (clevrtex) have no frames"
            )

        cfg = GenerateConfig(
            variant=variant,
            num=num,
            size=hw,
            samples=samples,
            denoise=denoise,
            seed=seed,
            shadow_samples=shadow_samples,
            num_objects=num_objects,
        )
        prog, update = _rich_progress(f"clevrtex {get_variant(variant).name}")
        with prog:
            report = generate_images(cfg, out, shard_ij, device=device, threads=threads, progress=update)
        where = dataset_dir(out, get_variant(variant).key)
    else:
        from spelke.synth.moving import VideoConfig, generate_videos

        try:
            gap_list = tuple(int(g) for g in gaps.split(",") if g.strip())
        except ValueError:
            raise ConfigError(
                f"--gaps must be comma-separated integers like 1,-1,2,-2; got {gaps!r}"
            ) from None
        vcfg = VideoConfig(
            dataset=dataset,
            num=num,
            frames=frames,
            size=hw,
            samples=samples,
            denoise=denoise,
            seed=seed,
            gaps=gap_list,
            num_objects=num_objects,
            camera_rotation=camera_rotation,
        )
        prog, update = _rich_progress(dataset)
        with prog:
            report = generate_videos(vcfg, out, shard_ij, device=device, threads=threads, progress=update)
        where = Path(out)
    n = len(report.rendered)
    rate = f", {n / report.seconds:.2f}/s" if n and report.seconds > 0 else ""
    console.print(
        f"rendered {n}, skipped {len(report.skipped)} already finished, resampled {report.resampled} scenes "
        f"with hidden objects, in {time.perf_counter() - t0:.1f} s{rate} -> {where}",
        highlight=False,
    )


# --------------------------------------------------------------------------------------------------
# spelke train / segment
# --------------------------------------------------------------------------------------------------


@app.command(
    "train",
    epilog=(
        "Examples:\n\n"
        "  spelke train gwm --dataset moving-clevrtex --root data/mct --preset cpu\n\n"
        "  spelke train gwm --dataset davis2016 --root data/DAVIS --preset paper pretrained=dino_vitb8.pth "
        "flow_backend=raft-large\n\n"
        "  spelke train lrtl --dataset moving-clevrtex --root data/mct --preset cpu max_steps=300 --seed 1\n\n"
        "Config fields and their paper values: spelke train METHOD --show-config"
    ),
)
def train_cmd(
    method: Annotated[str, typer.Argument(help="Method to train (spelke list methods): gwm, lrtl.")],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Config overrides key=value (YAML values): max_steps=500 input_size=96x96."),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Registered sequence dataset (spelke list datasets).")
    ] = None,
    root: Annotated[
        Path | None, typer.Option("--root", help="Dataset root (with its flow/track caches).")
    ] = None,
    split: Annotated[str | None, typer.Option("--split", help="Dataset split to train on.")] = None,
    data_option: Annotated[
        list[str] | None, typer.Option("--data-option", help="Dataset option key=value, repeatable.")
    ] = None,
    preset: Annotated[
        str,
        typer.Option(
            "--preset",
            "-p",
            help="paper (the dataclass defaults), a shipped preset (cpu, ...) or a YAML file.",
        ),
    ] = "paper",
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default runs/<method>/<preset>-seed<seed>).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of weights, data order and draws.")] = 0,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Continue from checkpoints/last.ckpt.")
    ] = True,
    workers: Annotated[int, typer.Option("--workers", help="Data-loading processes.")] = 0,
    show_config: Annotated[
        bool,
        typer.Option("--show-config", help="Print the resolved config (with each field's source) and exit."),
    ] = False,
) -> None:
    """Train a method on a sequence dataset: iteration-based, resumable, logged (CSV + TensorBoard).

    The run directory gets config.yaml, manifest.json, logs/ (csv/metrics.csv, tensorboard/) and
    checkpoints/ (last.ckpt to resume, final.pt for `spelke segment`). Flow and tracks are read from the
    dataset's caches; a missing cache fails at once with the `spelke flow` / `spelke tracks` command that
    makes it.
    """
    from spelke.methods.config import describe_config
    from spelke.methods.registry import create_method

    m = create_method(method, None if preset == "paper" else preset, overrides or [])
    if show_config:
        docs = {name: doc for name, _, doc in describe_config(type(m.config))}
        table = Table(title=f"{m.name} config (preset {preset})", title_justify="left")
        table.add_column("field", style="bold cyan", no_wrap=True)
        table.add_column("value")
        table.add_column("meaning / paper value")
        for k, v in m.config_dict().items():
            table.add_row(k, repr(v), docs.get(k, ""))
        console.print(table)
        return
    if dataset is None and root is None:
        raise ConfigError("say what to train on: --dataset NAME --root PATH (e.g. --dataset moving-clevrtex)")
    if getattr(m, "input_kind", "sequences") == "images":  # the ClevrTex zoo: single images
        ds = _open_images(m.name, root, dataset, split, parse_options(data_option))
    else:
        from spelke.motion.compute import open_sequences

        ds = open_sequences(root, dataset=dataset, split=split, data_options=parse_options(data_option))
    data_name = dataset or Path(str(getattr(ds, "root", root))).name
    run = out or Path("runs") / m.name / f"{data_name}-{Path(preset).stem}-seed{seed}"
    from spelke.engine.trainer import train

    # what the data was: a resumed run on other data (another ClevrTex variant, other options) is refused
    inputs: dict[str, Any] = {"dataset": dataset, "root": str(getattr(ds, "root", root)), "split": split}
    if data_option:
        inputs["data_options"] = {k: str(v) for k, v in sorted(parse_options(data_option).items())}
    if isinstance(getattr(ds, "variant", None), str):
        inputs["variant"] = ds.variant
    res = train(
        m,
        ds,
        run,
        seed=seed,
        resume=resume,
        progress=err_console.is_terminal or bool(os.environ.get("SPELKE_PROGRESS")),
        num_workers=workers,
        inputs=inputs,
    )
    losses = ", ".join(
        f"{k.split('/')[-1]}={v:.4g}" for k, v in sorted(res.final_losses.items()) if "lr" not in k
    )
    console.print(
        f"trained {m.name} for {res.steps} steps in {res.seconds:.1f} s ({losses}) -> {res.weights}",
        highlight=False,
        soft_wrap=True,
    )


def _open_images(
    method: str, root: Path | None, dataset: str | None, split: str | None, options: dict
) -> Any:
    """The image dataset an image method trains on (``--dataset`` must be an image dataset)."""
    from spelke.data import DATASETS, create_dataset

    if dataset is None:
        raise ConfigError(
            f"{method} trains on single images: name the dataset, e.g. --dataset clevrtex --root PATH"
        )
    if DATASETS.entry(dataset).tags.get("kind") != "image":
        images = [e.name for e in DATASETS.entries() if e.tags.get("kind") == "image"]
        raise ConfigError(
            f"{method} trains on single images, but dataset '{dataset}' holds sequences; image datasets: "
            + ", ".join(images)
        )
    return create_dataset(dataset, root=root, split=split, **options)


@app.command(
    "segment",
    epilog=(
        "Examples:\n\n"
        "  spelke segment --checkpoint runs/gwm/mct/checkpoints/final.pt data/mct_test "
        "--out runs/gwm/mct\n\n"
        "  spelke evaluate --protocol davis2016 --pred runs/gwm/mct --gt data/mct_test split=all annotations=AnnotationsMoving\n\n"
        "  spelke segment --method gwm --checkpoint final.pt my_video.mp4 --out runs/my_video --soft"
    ),
)
def segment_cmd(
    source: Annotated[
        Path | None,
        typer.Argument(help="A video file, a folder of frames (or of frame folders), or a dataset root."),
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", "-c", help="checkpoints/final.pt of a `spelke train` run.")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (usually the run directory).")
    ] = Path("runs/segment"),
    method: Annotated[
        str | None, typer.Option("--method", "-m", help="Refuse a checkpoint of another method.")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Read the input with this registered sequence dataset.")
    ] = None,
    root: Annotated[Path | None, typer.Option("--root", help="The dataset root (instead of SOURCE).")] = None,
    split: Annotated[str | None, typer.Option("--split", help="Dataset split.")] = None,
    data_option: Annotated[
        list[str] | None, typer.Option("--data-option", help="Dataset option key=value, repeatable.")
    ] = None,
    sequence: Annotated[
        list[str] | None, typer.Option("--sequence", "-s", help="Only this sequence (repeatable).")
    ] = None,
    soft: Annotated[bool, typer.Option("--soft", help="Also write the K soft masks (.npz).")] = False,
    overlays: Annotated[bool, typer.Option("--overlays/--no-overlays", help="Write overlay GIFs.")] = True,
    tta_steps: Annotated[
        int,
        typer.Option("--tta-steps", help="Test-time adaptation steps per sequence (GWM: 20; needs flow)."),
    ] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Recompute frames that exist.")] = False,
    merge_features: Annotated[
        str | None,
        typer.Option(
            "--merge-features", help="ViT for the K->2 merge (spelke list features), e.g. dino-vits8."
        ),
    ] = None,
    merge_weights: Annotated[
        str | None, typer.Option("--merge-weights", help="Local weights file of --merge-features.")
    ] = None,
    foreground: Annotated[
        str | None, typer.Option("--foreground", help="Foreground without ground truth: border or smaller.")
    ] = None,
) -> None:
    """Segment frames with a trained model: binary, merged, K-way and (optionally) soft predictions.

    Writes predictions/ (binary foreground, for davis2016/segtrackv2/fbms59), predictions-merged/ (the
    two clusters, for the *-oracle-gwm protocols), predictions-components/ (K-way labels),
    predictions-soft/ (with --soft) and overlays/ (GIFs). Finished frames are skipped on a re-run.
    """
    from spelke.methods.segment import segment

    if checkpoint is None:
        raise ConfigError("say which model to run: --checkpoint runs/<method>/<name>/checkpoints/final.pt")
    if source is not None and root is not None:
        raise ConfigError("give the input either as SOURCE or as --root, not both")
    if dataset is not None:
        from spelke.data import DATASETS

        if DATASETS.entry(dataset).tags.get("kind") == "image":  # e.g. clevrtex: label maps per image
            from spelke.data import create_dataset
            from spelke.methods.segment import segment_stills

            unused = [
                flag
                for flag, value in (
                    ("--sequence", sequence),
                    ("--tta-steps", tta_steps),
                    ("--merge-features", merge_features),
                    ("--merge-weights", merge_weights),
                    ("--foreground", foreground),
                )
                if value
            ]
            if unused:
                raise ConfigError(
                    f"{', '.join(unused)} not used for image datasets ({dataset}); leave "
                    f"{'it' if len(unused) == 1 else 'them'} out"
                )
            ds = create_dataset(
                dataset,
                root=source if source is not None else root,
                split=split,
                **parse_options(data_option),
            )
            prog, update = _rich_progress("segment")
            with prog:
                rep = segment_stills(
                    checkpoint, ds, out, method=method, soft=soft, overlays=8 if overlays else 0,
                    overwrite=overwrite, progress=update,
                )  # fmt: skip
            console.print(rep.summary(), highlight=False, soft_wrap=True)
            return
    prog, update = _rich_progress("segment")
    with prog:
        rep = segment(
            checkpoint,
            source if source is not None else root,
            out,
            method=method,
            dataset=dataset,
            split=split,
            data_options=parse_options(data_option),
            sequences=sequence or None,
            soft=soft,
            overlays=overlays,
            tta_steps=tta_steps,
            overwrite=overwrite,
            merge_features=merge_features,
            merge_weights=merge_weights,
            foreground=foreground,
            progress=update,
        )
    console.print(rep.summary(), highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------------------------------
# spelke bench
# --------------------------------------------------------------------------------------------------

bench_app = typer.Typer(
    help="Benchmarks that train and evaluate models and write the papers' tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(bench_app, name="bench")


def _names(values: list[str] | None) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]`` (options given repeated or comma-separated)."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@bench_app.command(
    "clevrtex",
    epilog=(
        "Examples:\n\n"
        "  spelke bench clevrtex --root data --models slot-attention,monet --preset cpu --out runs/bench\n\n"
        "  spelke bench clevrtex --root data/ClevrTex --models slot-attention --preset paper --seeds 0,1,2 "
        "--test-variants full,camo,ood --out runs/bench-paper\n\n"
        "  spelke bench clevrtex --root data --preset cpu max_steps=500 emorl:batch_size=8"
    ),
)
def bench_clevrtex_cmd(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Config overrides: key=value for every model, model:key=value for one."),
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(
            "--root", help="Folder holding clevrtex_<key>/ variants (generated or the official download)."
        ),
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models",
            "-m",
            help="Zoo models, comma-separated or repeated: slot-attention, monet, iodine, genesis-v2, emorl.",
        ),
    ] = None,
    train_variant: Annotated[
        str,
        typer.Option(
            "--train-variant",
            help="Variant(s) to train on (full, clevr, pbg, vbg, grassbg, ...); several, comma-separated "
            "(clevr,full), fill each table column from the models trained on that column's variant, as "
            "thesis Table 2.3 does.",
        ),
    ] = "full",
    test_variants: Annotated[
        list[str] | None,
        typer.Option(
            "--test-variants", help="Variants to test on, comma-separated (default: all under --root)."
        ),
    ] = None,
    preset: Annotated[
        str, typer.Option("--preset", "-p", help="cpu, paper (the papers' settings) or a YAML file.")
    ] = "cpu",
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds, comma-separated (the thesis: 0,1,2).")] = "0",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("runs/bench/clevrtex"),
    eval_size: Annotated[
        int | None,
        typer.Option(
            "--eval-size", help="Protocol image size (default: the model's input; the thesis: 128)."
        ),
    ] = None,
    resize: Annotated[
        bool, typer.Option("--resize", help="Allow test images of another size than the model's input.")
    ] = False,
    pictures: Annotated[int, typer.Option("--pictures", help="Test images per decomposition picture.")] = 4,
    baselines: Annotated[
        bool,
        typer.Option(
            "--baselines/--no-baselines",
            help="Also score one segment and K-means on colour and position (references that learn nothing).",
        ),
    ] = True,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Continue runs from their last checkpoint.")
    ] = True,
    train_missing: Annotated[
        bool,
        typer.Option(
            "--train/--no-train",
            help="--no-train: train nothing; score the runs already finished with these settings (gather "
            "runs trained by separate calls) and skip the rest.",
        ),
    ] = True,
) -> None:
    """Train ClevrTex zoo models on one variant (or several) and evaluate them on the test split of every variant.

    For each model and seed: train (resumable), segment each test split (label maps and
    reconstructions), score it with the clevrtex protocol. Writes OUT/results.md (thesis Tables 2.3,
    2.4, B.1, B.2, the per-attribute table and the compute table 2.2), OUT/results.csv, compute.csv,
    per_seed.csv, results.json and OUT/pictures/<model>-<variant>.png.
    """
    from spelke.bench import bench_clevrtex

    if root is None:
        raise ConfigError("say where the data is: --root PATH (a folder holding clevrtex_<key>/ folders)")
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers like 0,1,2; got {seeds!r}") from None
    res = bench_clevrtex(
        root,
        out,
        models=_names(models) or ["slot-attention"],
        train_variant=[v.strip() for v in train_variant.split(",") if v.strip()],
        test_variants=_names(test_variants) or None,
        preset=preset,
        seeds=seed_list,
        overrides=overrides or [],
        eval_size=eval_size,
        resize=resize,
        pictures=pictures,
        baselines=baselines,
        device=device,
        resume=resume,
        train_missing=train_missing,
        train_progress=err_console.is_terminal or bool(os.environ.get("SPELKE_PROGRESS")),
        log=lambda msg: console.print(msg, highlight=False, soft_wrap=True),
    )
    console.print(f"results: {res.markdown} ({res.seconds:.1f} s)", highlight=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning spelke errors into one line and exit status 2."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or os.environ.get(
        "SPELKE_DEBUG", ""
    ) not in (
        "",
        "0",
    )
    try:
        app(args=argv, standalone_mode=False)
    except SystemExit as e:  # typer.Exit / --help
        return int(e.code or 0)
    except SpelkeError as e:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/bold red] {e}", highlight=False, soft_wrap=True)
        return e.exit_code
    except OSError as e:  # unreadable files, permissions, disk full: still one clear line
        if debug:
            raise
        err_console.print(f"[bold red]error:[/bold red] {e}", highlight=False, soft_wrap=True)
        return 2
    except Exception as e:  # usage errors from typer's (vendored) click: duck-typed across versions
        name = type(e).__name__
        if name == "Exit":
            return int(getattr(e, "exit_code", 0) or 0)
        if name == "Abort":
            err_console.print("aborted")
            return 1
        if hasattr(e, "show") and hasattr(e, "exit_code"):
            if debug:
                raise
            e.show(file=sys.stderr)
            return 2
        raise
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
