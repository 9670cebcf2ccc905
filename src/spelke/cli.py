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

LISTABLE = ("protocols", "datasets", "methods", "metrics")


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
    if kind == "methods":
        return []  # methods register themselves as later issues add them
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


@app.command("demo")
def demo_cmd(
    out: Annotated[
        Path, typer.Option("--out", help="Run directory for data, predictions, metrics, report.")
    ] = Path("runs/demo"),
    clips: Annotated[int, typer.Option("--clips", help="Number of synthetic video clips to generate.")] = 6,
    frames: Annotated[int, typer.Option("--frames", help="Frames per clip.")] = 16,
    size: Annotated[str, typer.Option("--size", help="Frame size HxW.")] = "96x128",
    seed: Annotated[int, typer.Option("--seed", help="Seed for every random choice.")] = 0,
) -> None:
    """Evaluation demo: generate a small synthetic benchmark, segment it with simple baselines, score it
    with the davis2016, movi, clevrtex and oracle protocols, and write an HTML report.

    Runs in well under a minute on a laptop CPU. A later release turns this into the full pipeline demo
    (generate with Blender, compute flow, train, segment, evaluate).
    """
    from spelke.demo import run_demo

    try:
        h, w = (int(x) for x in size.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must look like HxW, e.g. 96x128; got {size!r}") from None
    report = run_demo(
        out, clips=clips, frames=frames, size=(h, w), seed=seed, console=console, progress=_progress
    )
    console.print(f"[bold green]report:[/bold green] {report}")


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
