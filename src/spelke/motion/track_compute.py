"""Compute point tracks for videos, frame folders and datasets into the track cache, resumably and in shards.

:func:`compute_tracks` is what ``spelke tracks`` runs. It reads sequences like
:func:`~spelke.motion.compute.compute_flow` (a video file, a folder of frames, a DAVIS-style tree, any
registered sequence dataset, or clips in memory), tracks the query grid of every frame through its
window with a registered tracker, and writes one ``.npz`` per query frame to the track cache
(:mod:`spelke.motion.track_cache`).

* **Flow** for ``flow-chain`` is computed by a flow backend (``backend="dis"``), each pair once per
  sequence, or read from the flow cache (``flow_cache="raft-large"``; gaps 1 and -1). A missing cache
  entry is reported with the ``spelke flow`` command that creates it.
* **Resumable**: an existing complete track file is skipped (``overwrite=True`` recomputes).
* **Sharded**: the query frames of all sequences, in order, are cut into ``n`` contiguous blocks
  (:mod:`spelke._sharding`); shard ``i`` computes block ``i``; inside a SLURM array the shard comes from
  the environment.
* **Errors** (an unreadable frame, missing flow, frames of different sizes) are collected with their
  sequence and query frame, the rest goes on, and the report lists them.

Examples:
    >>> import tempfile
    >>> from spelke.synth.textured_motion import make_textured_video
    >>> clip = make_textured_video(frames=4, size=(32, 48), seed=0).to_clip("demo")
    >>> report = compute_tracks([clip], out=tempfile.mkdtemp(), options={"stride": 8, "window": 2})
    >>> report.written, report.tag, report.errors
    (4, 'dis-s8-w2-reflect-box11', [])
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spelke._sharding import parse_shard, shard_range
from spelke.errors import ConfigError, DataLayoutError, SpelkeError
from spelke.motion.backends import create_flow_backend
from spelke.motion.cache import available_gaps, cache_dir, frame_stem
from spelke.motion.compute import Progress, _default_out, open_sequences, raise_job_errors
from spelke.motion.track_cache import (
    track_dir,
    track_file_is_valid,
    track_path,
    update_track_manifest,
    write_tracks,
)
from spelke.motion.tracks import (
    FlowSource,
    Tracker,
    _short_hash,
    create_tracker,
    flow_cache_info,
    tracker_class,
)

__all__ = ["TrackJobError", "TrackJobReport", "compute_tracks"]


@dataclass(frozen=True)
class TrackJobError:
    """One problem met by :func:`compute_tracks`: where (sequence, query frame name) and what."""

    sequence: str
    frame: str | None
    message: str

    def __str__(self) -> str:
        where = f"sequence '{self.sequence}'"
        if self.frame is not None:
            where += f", query frame {self.frame}"
        return f"{where}: {self.message}"


@dataclass
class TrackJobReport:
    """What a :func:`compute_tracks` run did.

    Attributes:
        root: the cache root (the folder ``tracks/`` is under).
        cache: the folder ``<root>/tracks/<tracker>/<tag>``.
        tracker: the tracker's registered name.
        tag: the config tag.
        shard: ``(i, n)``.
        sequences: sequences with work in this shard.
        queries: query frames this shard is responsible for.
        written: query frames tracked and written.
        skipped: query frames whose file already existed (resume).
        tracks: tracks written (query points summed over the written files).
        errors: the problems met (:class:`TrackJobError`).
        seconds: wall time.
    """

    root: Path
    cache: Path
    tracker: str
    tag: str
    shard: tuple[int, int] = (0, 1)
    sequences: int = 0
    queries: int = 0
    written: int = 0
    skipped: int = 0
    tracks: int = 0
    errors: list[TrackJobError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line: counts, speed, where."""
        rate = ""
        if self.written and self.seconds > 0:
            rate = f", {self.written / self.seconds:.2f} query frames/s, {self.tracks / self.seconds:.0f} tracks/s"
        shard = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard[1] > 1 else ""
        return (
            f"{self.tracker} {self.tag}{shard}: {self.written} query frames written, {self.skipped} already "
            f"there, {len(self.errors)} error(s), {self.queries} query frames in {self.sequences} sequence(s) "
            f"in {self.seconds:.1f} s{rate} -> {self.cache}"
        )

    def raise_for_errors(self) -> None:
        """Raise a :class:`SpelkeError` listing the errors (the first ten), if there were any."""
        raise_job_errors(self.errors, "track")


class _Frames:
    """The frames of one sequence as a lazy, memoised sequence of float (3, H, W) arrays."""

    def __init__(self, ds: Any, seq: str, names: list[str], max_items: int) -> None:
        self.ds, self.seq, self.names = ds, seq, names
        self.max_items = max(2, max_items)
        self._memo: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> np.ndarray:
        i = int(i)
        if i in self._memo:
            self._memo.move_to_end(i)
            return self._memo[i]
        try:
            img = np.asarray(self.ds.image(self.seq, i))
        except (SpelkeError, OSError, ValueError) as e:
            raise SpelkeError(f"cannot read frame {self.names[i]}: {e}") from None
        if img.ndim != 3 or img.shape[0] != 3 or img.dtype.kind != "f":
            raise SpelkeError(
                f"frame {self.names[i]}: expected a float (3, H, W) image, got {img.dtype} {img.shape}"
            )
        self._memo[i] = img
        while len(self._memo) > self.max_items:
            self._memo.popitem(last=False)
        return img


def _flow_command(root: Path, name: str) -> str:
    return (
        f"spelke flow --dataset NAME --root {root} --gaps 1,-1 --backend {name} "
        f"(or: spelke flow VIDEO_OR_FOLDER --out {root} --gaps 1,-1 --backend {name}"
        f"{'' if name in ('dis', 'farneback', 'raft-small', 'raft-large') else f' --name {name}'})"
    )


def _default_backend_options(name: str) -> dict[str, Any] | None:
    """The resolved options of a backend created with no options (None if it cannot be created so)."""
    try:
        return create_flow_backend(name).options
    except SpelkeError:
        return None


def compute_tracks(
    source: Any = None,
    out: str | os.PathLike[str] | None = None,
    *,
    tracker: str | Tracker = "flow-chain",
    options: dict[str, Any] | None = None,
    backend: str = "dis",
    backend_options: dict[str, Any] | None = None,
    flow_cache: str | None = None,
    flow_root: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
    split: str | None = None,
    data_options: dict[str, Any] | None = None,
    sequences: Sequence[str] | None = None,
    tag: str | None = None,
    shard: str | tuple[int, int] | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> TrackJobReport:
    """Track the query grid of every frame of every sequence and cache the tracks.

    Args:
        source: what to read (see :func:`~spelke.motion.compute.open_sequences`): a video file, a frame
            folder, a dataset root, a sequence dataset object, or clips.
        out: the cache root: tracks go to ``<out>/tracks/<tracker>/<tag>/<seq>/<frame>.npz``. Default:
            the dataset root (for a video file, the folder holding it).
        tracker: a registered tracker name (:func:`~spelke.motion.tracks.list_trackers`) or a tracker.
        options: tracker options (with a name): ``stride``, ``window``, ``padding``, ``smooth``, ...
        backend: flow backend of ``flow-chain`` when ``flow_cache`` is None.
        backend_options: its options (``{"preset": "fast"}``).
        flow_cache: read flow from the flow cache of this name (``<flow_root>/flows/<flow_cache>``,
            gaps 1 and -1) instead of computing it.
        flow_root: the flow cache's root (default: ``out``).
        dataset, split, data_options: how to read ``source``.
        sequences: only these sequences (default: all).
        tag: the config folder name (default: :meth:`Tracker.config_tag`, prefixed by the flow's name
            for flow trackers, e.g. ``dis-s4-w20-reflect-box11``).
        shard: ``"i/n"`` or ``(i, n)``; None: from a SLURM job array, else everything.
        overwrite: recompute files that already exist.
        progress: ``progress(iterable, total, description)`` wrapper (the CLI's rich bar).

    Returns:
        A :class:`TrackJobReport`; check ``report.errors`` (or call ``report.raise_for_errors()``).

    Raises:
        DataLayoutError: ``flow_cache`` names a cache that does not exist (the message gives the
            ``spelke flow`` command that creates it).
        ConfigError: the cache folder holds tracks of other settings.
    """
    t_start = time.perf_counter()
    i_shard, n_shard = parse_shard(shard)
    if isinstance(tracker, Tracker):
        if options:
            raise ConfigError("pass options when creating the tracker, not with a tracker object")
        trk = tracker
    else:
        opts = dict(options or {})
        if tracker_class(tracker).needs_flow and flow_cache is None:
            opts.setdefault("backend", backend)
            opts.setdefault("backend_options", dict(backend_options or {}))
        trk = create_tracker(tracker, **opts)
    ds = open_sequences(source, dataset=dataset, split=split, data_options=data_options)
    root = Path(out).expanduser() if out is not None else _default_out(ds)

    flow_info: dict[str, Any] = {}
    prefix = ""
    froot = Path(flow_root).expanduser() if flow_root is not None else root
    if trk.needs_flow:
        if flow_cache is not None:
            folder = cache_dir(froot, flow_cache)
            if not folder.is_dir():
                raise DataLayoutError(
                    f"no flow cache '{flow_cache}' at {folder}; create it with: {_flow_command(froot, flow_cache)}"
                )
            flow_info = flow_cache_info(froot, flow_cache)
            prefix = flow_cache
        else:
            fb = trk.flow_backend()  # type: ignore[attr-defined]
            flow_info = {"source": "backend", **fb.describe()}
            prefix = fb.name
            default = _default_backend_options(fb.name)
            if default is not None and fb.options != default:  # other flow settings, another folder
                prefix += "-f" + _short_hash(fb.options)
    tag = tag or trk.config_tag(prefix or None)
    folder = track_dir(root, trk.name, tag)  # validates the names

    seqs = list(ds.sequences)
    if sequences is not None:
        missing = [s for s in sequences if s not in set(seqs)]
        if missing:
            raise ConfigError(f"sequences not in the source: {missing[:5]}; it has: {seqs[:10]}")
        seqs = [s for s in seqs if s in set(sequences)]

    report = TrackJobReport(root, folder, trk.name, tag, (i_shard, n_shard))
    desc = trk.describe()
    # Fail fast (before any compute) when the folder holds tracks of other settings.
    update_track_manifest(
        root, trk.name, tag, version=desc["version"], options=desc["options"], flow=flow_info
    )

    names = {s: list(ds.frame_names(s)) for s in seqs}
    units = [(s, q) for s in seqs for q in range(len(names[s]))]
    mine = [units[k] for k in shard_range(len(units), i_shard, n_shard)]
    report.sequences = len({s for s, _ in mine})
    report.queries = len(mine)
    sizes: dict[str, tuple[int, int]] = {}

    current: str | None = None
    frames: _Frames | None = None
    flows: Any = None
    blocked: set[str] = set()
    it: Iterable[tuple[str, int]] = mine
    if progress is not None:
        it = progress(mine, len(mine), f"tracks {trk.name} {tag}")
    for s, q in it:
        n = len(names[s])
        if s != current:
            current = s
            frames = _Frames(ds, s, names[s], 2 * trk.window + 3)
            flows = None
            if trk.needs_flow and n > 1:
                if flow_cache is not None:
                    have = set(available_gaps(froot, flow_cache, s))
                    if not {1, -1} <= have:
                        blocked.add(s)
                        report.errors.append(
                            TrackJobError(
                                s,
                                None,
                                f"the flow cache '{flow_cache}' at {froot} has no gap 1 and -1 flow for this "
                                f"sequence (gaps present: {sorted(have) or 'none'}); create it with: "
                                f"{_flow_command(froot, flow_cache)}",
                            )
                        )
                    flows = FlowSource.from_cache(froot, flow_cache, s, names[s], 4 * (trk.window + 2))
                else:
                    flows = FlowSource.from_backend(trk.flow_backend(), frames, 4 * (trk.window + 2))  # type: ignore[attr-defined]
        if s in blocked:
            continue
        path = track_path(root, trk.name, tag, s, names[s][q])
        if not overwrite and track_file_is_valid(path, sizes.get(s)):
            report.skipped += 1
            continue
        try:
            tr = trk.track(
                frames if trk.needs_frames or flows is None else None, q, flows=flows, num_frames=n
            )
        except (SpelkeError, OSError, ValueError) as e:
            report.errors.append(TrackJobError(s, frame_stem(names[s][q]), str(e)))
            continue
        write_tracks(root, trk.name, tag, s, names[s][q], tr)
        sizes.setdefault(s, tr.size)
        report.written += 1
        report.tracks += len(tr)

    update_track_manifest(
        root,
        trk.name,
        tag,
        version=desc["version"],
        options=desc["options"],
        flow=flow_info,
        sequences={s: {"size": list(sizes[s]), "frames": len(names[s])} for s in sizes},
    )
    report.seconds = time.perf_counter() - t_start
    return report
