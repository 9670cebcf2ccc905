"""Compute optical flow for videos, frame folders and datasets into the flow cache, resumably and in shards.

:func:`compute_flow` is what ``spelke flow`` runs. It reads sequences from a video file, a folder of
frames (or of frame folders, or of videos), a DAVIS-style tree, any registered sequence dataset, or
clips in memory; computes the flow of every pair ``(t, t + k)`` for the requested gaps ``k``; and
writes each to the cache (:mod:`spelke.motion.cache`), named after the source frame ``t``.

* **Resumable**: an existing complete ``.flo`` file of the right size is skipped (``overwrite=True``
  recomputes), so an interrupted job is simply run again.
* **Sharded**: the work items — the frames of all sequences, in order — are cut into ``n`` contiguous
  blocks (:mod:`spelke._sharding`); shard ``i`` computes block ``i``. Inside a SLURM job array the
  shard comes from the environment.
* **Atomic** writes and a manifest (``flows/<name>/manifest.json``) merged under a lock by every shard.
* **Errors** (an unreadable frame, frames of different sizes, a sequence shorter than a gap) are
  collected with their sequence, frame and gap, the rest of the job goes on, and the report lists
  them; :meth:`FlowJobReport.raise_for_errors` turns them into one exception.

Examples:
    >>> import tempfile
    >>> from spelke.synth.textured_motion import make_textured_video
    >>> clip = make_textured_video(frames=3, size=(32, 48), seed=0).to_clip("demo")
    >>> report = compute_flow([clip], out=tempfile.mkdtemp(), gaps=(1, -1), backend="dis")
    >>> report.written, report.skipped, report.errors
    (4, 0, [])
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spelke._sharding import parse_shard, shard_range
from spelke.errors import ConfigError, SpelkeError
from spelke.motion.backends import FlowBackend, create_flow_backend
from spelke.motion.cache import cache_dir, flo_is_valid, flow_path, update_manifest, write_flow

__all__ = ["FlowJobError", "FlowJobReport", "compute_flow", "open_sequences", "parse_gaps"]

Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]


@dataclass(frozen=True)
class FlowJobError:
    """One problem met by :func:`compute_flow`: where (sequence, frame name, gap) and what."""

    sequence: str
    frame: str | None
    gap: int | None
    message: str

    def __str__(self) -> str:
        where = f"sequence '{self.sequence}'"
        if self.frame is not None:
            where += f", frame {self.frame}"
        if self.gap is not None:
            where += f", gap {self.gap}"
        return f"{where}: {self.message}"


@dataclass
class FlowJobReport:
    """What a :func:`compute_flow` run did.

    Attributes:
        root: the cache root (the dataset root the ``flows/`` folder is under).
        cache: the cache folder ``<root>/flows/<name>``.
        backend: the backend's registered name.
        gaps: the gaps computed.
        shard: ``(i, n)``.
        sequences: sequences with work in this shard.
        pairs: frame pairs this shard is responsible for.
        written: pairs computed and written.
        skipped: pairs whose file already existed (resume).
        errors: the problems met (:class:`FlowJobError`).
        seconds: wall time.
    """

    root: Path
    cache: Path
    backend: str
    gaps: list[int]
    shard: tuple[int, int]
    sequences: int = 0
    pairs: int = 0
    written: int = 0
    skipped: int = 0
    errors: list[FlowJobError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line: counts, speed, where."""
        rate = f", {self.written / self.seconds:.1f} pairs/s" if self.written and self.seconds > 0 else ""
        shard = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard[1] > 1 else ""
        return (
            f"{self.backend}{shard}: {self.written} flows written, {self.skipped} already there, "
            f"{len(self.errors)} error(s), {self.pairs} pairs in {self.sequences} sequence(s) "
            f"in {self.seconds:.1f} s{rate} -> {self.cache}"
        )

    def raise_for_errors(self) -> None:
        """Raise a :class:`SpelkeError` listing the errors (the first ten), if there were any."""
        raise_job_errors(self.errors, "flow")


def raise_job_errors(errors: Sequence[Any], what: str) -> None:
    """Raise one :class:`SpelkeError` naming the first ten of a job's ``errors`` (none: return)."""
    if errors:
        shown = "; ".join(str(e) for e in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise SpelkeError(f"{len(errors)} {what} error(s): {shown}{more}")


def parse_gaps(gaps: str | int | Sequence[int]) -> list[int]:
    """``"1,-1"`` / ``[1, -1]`` / ``2`` -> a list of distinct non-zero gaps, in the order given."""
    if isinstance(gaps, str):
        items: list[Any] = [g for g in gaps.replace(" ", "").split(",") if g]
    elif isinstance(gaps, (int, np.integer)):
        items = [gaps]
    else:
        items = list(gaps)
    out: list[int] = []
    for g in items:
        try:
            k = int(g)
        except (TypeError, ValueError):
            raise ConfigError(f"gaps must be non-zero integers like 1,-1,2; got {g!r}") from None
        if k == 0:
            raise ConfigError("a gap of 0 is the identity; gaps must be non-zero (e.g. 1,-1)")
        if k not in out:
            out.append(k)
    if not out:
        raise ConfigError("give at least one gap, e.g. --gaps 1,-1")
    return out


# --------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------


class _ClipSource:
    """Clips in memory seen through the sequence-dataset interface (sequences, frame_names, image)."""

    def __init__(self, clips: Sequence[Any]) -> None:
        self._clips = {c.sequence: c for c in clips}
        if len(self._clips) != len(clips):
            raise ConfigError("clips passed to compute_flow must have distinct sequence names")
        self.sequences = list(self._clips)
        self.root = None

    def frame_names(self, seq: str) -> list[str]:
        return list(self._clips[seq].frame_names)

    def image(self, seq: str, i: int) -> np.ndarray:
        return self._clips[seq].image(i)


def _is_clip_list(source: Any) -> bool:
    from spelke.data.types import Clip

    if isinstance(source, Clip):
        return True
    return isinstance(source, (list, tuple)) and bool(source) and all(isinstance(c, Clip) for c in source)


def open_sequences(
    source: Any = None,
    *,
    dataset: str | None = None,
    split: str | None = None,
    data_options: dict[str, Any] | None = None,
) -> Any:
    """Open what :func:`compute_flow` reads: a sequence dataset.

    Args:
        source: a path, a sequence dataset object, a :class:`~spelke.data.Clip` or a list of clips.
            A path is read by ``dataset`` when given; otherwise a video file by ``video_file``, a folder
            with ``JPEGImages/`` by ``davis_tree``, a folder of video files by ``video_file``, and any
            other folder by ``frame_folder`` (one sequence of frames, or one per sub-folder).
        dataset: a registered sequence dataset name (``source`` is then its root, or None for
            ``$SPELKE_DATA/<name>``).
        split: the dataset split.
        data_options: dataset options.

    Raises:
        ConfigError: the dataset yields images, not sequences.
    """
    from spelke.data import create_dataset
    from spelke.data.video import VIDEO_EXTENSIONS, list_frames

    opts = dict(data_options or {})
    if _is_clip_list(source):
        return _ClipSource([source] if not isinstance(source, (list, tuple)) else list(source))
    if source is not None and not isinstance(source, (str, os.PathLike)):
        if hasattr(source, "frame_names") and hasattr(source, "image") and hasattr(source, "sequences"):
            return source
        raise ConfigError(
            f"cannot read sequences from a {type(source).__name__}; pass a path, dataset or clips"
        )
    if dataset is None:
        if source is None:
            raise ConfigError("give a video file, a frame folder or a dataset root (or --dataset NAME)")
        p = Path(source).expanduser()
        if p.is_file():
            dataset = "video_file"
        elif (p / "JPEGImages").is_dir():
            dataset = "davis_tree"
        elif (
            p.is_dir()
            and not list_frames(p)
            and any(f.suffix.lower() in VIDEO_EXTENSIONS for f in p.iterdir() if f.is_file())
        ):
            dataset = "video_file"
        else:
            dataset = "frame_folder"
    ds = create_dataset(dataset, root=source, split=split, **opts)
    if getattr(ds, "kind", "sequence") != "sequence" or not hasattr(ds, "frame_names"):
        raise ConfigError(
            f"dataset '{dataset}' yields single images; optical flow needs sequences "
            "(a sequence dataset, a video file or a folder of frames)"
        )
    return ds


def _default_out(ds: Any) -> Path:
    root = getattr(ds, "root", None)
    if root is None:
        raise ConfigError("clips in memory have no dataset root: pass out=PATH (CLI: --out PATH)")
    root = Path(root)
    return root if root.is_dir() else root.parent


# --------------------------------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------------------------------


def compute_flow(
    source: Any = None,
    out: str | os.PathLike[str] | None = None,
    *,
    gaps: str | Sequence[int] = (1, -1),
    backend: str | FlowBackend = "dis",
    options: dict[str, Any] | None = None,
    dataset: str | None = None,
    split: str | None = None,
    data_options: dict[str, Any] | None = None,
    sequences: Sequence[str] | None = None,
    name: str | None = None,
    shard: str | tuple[int, int] | None = None,
    overwrite: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> FlowJobReport:
    """Compute and cache the flow of every frame pair ``(t, t + k)`` of every sequence.

    Args:
        source: what to read (see :func:`open_sequences`): a video file, a frame folder, a dataset
            root, a sequence dataset object, or clips.
        out: the cache root: flows go to ``<out>/flows/<name>/Flows_gap<k>/<seq>/<frame>.flo``.
            Default: the dataset root (for a video file, the folder holding it).
        gaps: signed gaps, e.g. ``(1, -1)`` or ``"1,-1,2,-2"``.
        backend: a registered backend name (:func:`~spelke.motion.list_flow_backends`) or a backend object.
        options: backend options (with a name).
        dataset, split, data_options: how to read ``source`` (see :func:`open_sequences`).
        sequences: only these sequences (default: all).
        name: the cache folder name under ``flows/`` (default: the backend's name); use it to keep
            several settings of one backend (``dis-fast``) apart.
        shard: ``"i/n"`` or ``(i, n)``; None: from a SLURM job array, else everything.
        overwrite: recompute files that already exist.
        batch_size: pairs per backend call (default: the backend's preference).
        progress: ``progress(iterable, total, description)`` wrapper (the CLI's rich bar).

    Returns:
        A :class:`FlowJobReport`; check ``report.errors`` (or call ``report.raise_for_errors()``).
    """
    t_start = time.perf_counter()
    gap_list = parse_gaps(gaps)
    i_shard, n_shard = parse_shard(shard)
    if isinstance(backend, FlowBackend):
        if options:
            raise ConfigError("pass options when creating the backend, not with a backend object")
        flow_backend = backend
    else:
        flow_backend = create_flow_backend(backend, **(options or {}))
    cache_name = name or flow_backend.name
    ds = open_sequences(source, dataset=dataset, split=split, data_options=data_options)
    root = Path(out).expanduser() if out is not None else _default_out(ds)
    folder = cache_dir(root, cache_name)  # validates the name

    seqs = list(ds.sequences)
    if sequences is not None:
        missing = [s for s in sequences if s not in set(seqs)]
        if missing:
            raise ConfigError(f"sequences not in the source: {missing[:5]}; it has: {seqs[:10]}")
        seqs = [s for s in seqs if s in set(sequences)]

    report = FlowJobReport(root, folder, flow_backend.name, gap_list, (i_shard, n_shard))
    # Fail fast (before any compute) when the folder holds flow of another backend or setting.
    desc = flow_backend.describe()
    update_manifest(
        root,
        cache_name,
        backend=desc["backend"],
        version=desc["version"],
        options=desc["options"],
        gaps=gap_list,
    )

    names = {s: ds.frame_names(s) for s in seqs}
    units = [(s, t) for s in seqs for t in range(len(names[s]))]
    mine = [units[k] for k in shard_range(len(units), i_shard, n_shard)]
    max_gap = max(abs(g) for g in gap_list)
    for s in dict.fromkeys(s for s, t in mine if t == 0):  # reported once, by the shard owning frame 0
        n = len(names[s])
        short = [g for g in gap_list if n <= abs(g)]
        if short:
            report.errors.append(
                FlowJobError(
                    s,
                    None,
                    None,
                    f"has {n} frame(s), too few for gap(s) {', '.join(map(str, short))} "
                    f"(a gap of k needs at least |k| + 1 frames); no flow for those gaps",
                )
            )
    report.sequences = len({s for s, _ in mine})
    report.pairs = sum(1 for s, t in mine for g in gap_list if 0 <= t + g < len(names[s]))

    job = _Job(
        ds,
        root,
        cache_name,
        flow_backend,
        names,
        report,
        overwrite,
        batch_size or flow_backend.batch_size,
        max_gap,
    )
    it: Iterable[tuple[str, int]] = mine
    if progress is not None:
        it = progress(mine, len(mine), f"flow {cache_name} {','.join(map(str, gap_list))}")
    for s, t in it:
        job.unit(s, t, gap_list)
    job.flush()

    update_manifest(
        root,
        cache_name,
        backend=desc["backend"],
        version=desc["version"],
        options=desc["options"],
        gaps=gap_list,
        sequences={s: {"size": list(job.sizes[s]), "frames": len(names[s])} for s in job.sizes},
    )
    report.seconds = time.perf_counter() - t_start
    return report


class _Job:
    """The state of one shard's run: a sliding window of decoded frames and the pending batch."""

    def __init__(
        self,
        ds: Any,
        root: Path,
        name: str,
        backend: FlowBackend,
        names: dict[str, list[str]],
        report: FlowJobReport,
        overwrite: bool,
        batch_size: int,
        max_gap: int,
    ) -> None:
        self.ds, self.root, self.name, self.backend = ds, root, name, backend
        self.names, self.report, self.overwrite = names, report, overwrite
        self.batch_size = max(1, int(batch_size))
        self.max_gap = max_gap
        self.seq: str | None = None
        self.frames: dict[int, np.ndarray | None] = {}
        self.sizes: dict[str, tuple[int, int]] = {}
        self.pending: list[tuple[str, int, int, np.ndarray, np.ndarray]] = []

    def frame(self, seq: str, t: int) -> np.ndarray | None:
        """Frame ``t`` of ``seq`` (None if unreadable; the error is reported once)."""
        if seq != self.seq:
            self.seq, self.frames = seq, {}
        if t not in self.frames:
            try:
                img = np.asarray(self.ds.image(seq, t))
                if img.ndim != 3 or img.shape[0] != 3 or img.dtype.kind != "f":
                    raise SpelkeError(f"expected a float (3, H, W) image, got {img.dtype} {img.shape}")
                self.frames[t] = img
                self.sizes.setdefault(seq, (int(img.shape[1]), int(img.shape[2])))
            except (SpelkeError, OSError, ValueError) as e:
                self.frames[t] = None
                self.report.errors.append(
                    FlowJobError(seq, self.names[seq][t], None, f"cannot read the frame: {e}")
                )
        return self.frames[t]

    def unit(self, seq: str, t: int, gaps: list[int]) -> None:
        """All pairs whose source is frame ``t`` of ``seq``."""
        names = self.names[seq]
        if seq == self.seq:  # frames before the window are no longer needed
            for k in [k for k in self.frames if k < t - self.max_gap]:
                del self.frames[k]
        for g in gaps:
            u = t + g
            if not 0 <= u < len(names):
                continue
            path = flow_path(self.root, self.name, g, seq, names[t])
            if not self.overwrite and path.is_file():
                size = self.sizes.get(seq)
                if size is None:
                    img = self.frame(seq, t)
                    size = None if img is None else (img.shape[1], img.shape[2])
                if size is not None and flo_is_valid(path, size):
                    self.report.skipped += 1
                    continue
            a, b = self.frame(seq, t), self.frame(seq, u)
            if a is None or b is None:
                continue  # the unreadable frame is already reported
            if a.shape != b.shape:
                self.report.errors.append(
                    FlowJobError(
                        seq,
                        names[t],
                        g,
                        f"frame {names[t]} is {a.shape[1]}x{a.shape[2]} but frame {names[u]} is "
                        f"{b.shape[1]}x{b.shape[2]}; frames of a sequence must share one size",
                    )
                )
                continue
            if self.pending and self.pending[0][3].shape != a.shape:
                self.flush()
            self.pending.append((seq, t, g, a, b))
            if len(self.pending) >= self.batch_size:
                self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        if len(self.pending) == 1:
            _, _, _, a, b = self.pending[0]
            flows = self.backend(a, b)[None]
        else:
            flows = self.backend.batch([p[3] for p in self.pending], [p[4] for p in self.pending])
        for (seq, t, g, _, _), f in zip(self.pending, flows, strict=True):
            write_flow(self.root, self.name, g, seq, self.names[seq][t], f)
            self.report.written += 1
        self.pending = []
