"""The track cache: point tracks computed once, stored under the dataset root, read by every method.

Layout (docs/contracts.md, "Track cache")::

    <root>/tracks/<tracker>/<config-tag>/manifest.json
    <root>/tracks/<tracker>/<config-tag>/<seq>/<query-frame>.npz

* ``<tracker>`` is the tracker's registered name (``flow-chain``, ``cotracker``) or ``gt`` for exact
  tracks; ``<config-tag>`` names the settings (:meth:`Tracker.config_tag
  <spelke.motion.tracks.Tracker.config_tag>`, e.g. ``dis-s4-w20-reflect-box11``; any name with
  ``tag=``), so several settings of one tracker live side by side.
* ``<query-frame>`` is the query frame's name in its dataset (integers as five digits, ``00007``: the
  flow cache's convention, :func:`spelke.motion.cache.frame_stem`).
* Each ``.npz`` holds ``xy`` float32 ``(T, N, 2)`` pixels, ``vis`` bool ``(T, N)``, ``t`` int64 ``(T,)``
  frame offsets from the query frame and ``size`` ``(H, W)`` (the contract), plus ``query_frame``,
  ``query_index`` (the query frame's row) and ``query`` ``(N, 2)`` (the query points before smoothing).
  Written atomically.
* ``manifest.json`` records the tracker, the tag, the tracker's version and options, where the flow
  came from (``flow``), the spelke version, and per sequence the frame size and count.

Examples:
    >>> import tempfile, numpy as np
    >>> from spelke.motion.tracks import Tracks
    >>> root = tempfile.mkdtemp()
    >>> tr = Tracks(np.zeros((3, 5, 2)), np.ones((3, 5), bool), [-1, 0, 1], (8, 8), query_frame=4, query_index=1)
    >>> p = write_tracks(root, "flow-chain", "demo", "cat", 4, tr)
    >>> p.relative_to(root).as_posix()
    'tracks/flow-chain/demo/cat/00004.npz'
    >>> read_tracks(root, "flow-chain", "demo", "cat", 4).xy.shape
    (3, 5, 2)
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from spelke import __version__
from spelke.data.io import folder_lock, read_json, write_json
from spelke.errors import ConfigError, DataLayoutError, FileFormatError
from spelke.motion.cache import frame_stem
from spelke.motion.tracks import REQUIRED_KEYS, Tracks, load_tracks, save_tracks

__all__ = [
    "MANIFEST",
    "TRACKS_DIR",
    "TrackCache",
    "available_tags",
    "available_trackers",
    "has_tracks",
    "read_track_manifest",
    "read_tracks",
    "track_dir",
    "track_file_is_valid",
    "track_path",
    "update_track_manifest",
    "write_tracks",
]

#: Folder under the dataset root that holds one sub-folder per tracker.
TRACKS_DIR = "tracks"
#: File name of a (tracker, tag) folder's manifest.
MANIFEST = "manifest.json"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(str(value)):
        raise ConfigError(
            f"track cache {what} {value!r} must be a plain folder name (letters, digits, '.', '_', '+', '-')"
        )
    return str(value)


def track_dir(root: str | os.PathLike[str], tracker: str, tag: str) -> Path:
    """``<root>/tracks/<tracker>/<tag>``."""
    return (
        Path(root).expanduser() / TRACKS_DIR / _check_name(tracker, "tracker name") / _check_name(tag, "tag")
    )


def track_path(root: str | os.PathLike[str], tracker: str, tag: str, seq: str, frame: int | str) -> Path:
    """Path of the tracks queried in frame ``frame`` of sequence ``seq``.

    Examples:
        >>> track_path("data/davis", "cotracker", "s4-w20-reflect-box11", "bear", 7).as_posix()
        'data/davis/tracks/cotracker/s4-w20-reflect-box11/bear/00007.npz'
    """
    return track_dir(root, tracker, tag) / str(seq) / f"{frame_stem(frame)}.npz"


def track_file_is_valid(path: str | os.PathLike[str], size: tuple[int, int] | None = None) -> bool:
    """Whether ``path`` is a complete track file (a readable zip with the contract keys), of ``size``
    ``(H, W)`` if given. Reads the zip directory and the tiny ``size`` member only."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            names = set(z.namelist())
        if not all(f"{k}.npy" in names for k in REQUIRED_KEYS):
            return False
        if size is None:
            return True
        with np.load(p, allow_pickle=False) as npz:
            return tuple(int(v) for v in npz["size"]) == tuple(size)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return False


def has_tracks(
    root: str | os.PathLike[str],
    tracker: str,
    tag: str,
    seq: str,
    frame: int | str,
    size: tuple[int, int] | None = None,
) -> bool:
    """Whether a complete cache entry exists (see :func:`track_file_is_valid`)."""
    return track_file_is_valid(track_path(root, tracker, tag, seq, frame), size)


def write_tracks(
    root: str | os.PathLike[str], tracker: str, tag: str, seq: str, frame: int | str, tracks: Tracks
) -> Path:
    """Write one cache entry atomically; returns its path."""
    return save_tracks(track_path(root, tracker, tag, seq, frame), tracks)


def available_trackers(root: str | os.PathLike[str]) -> list[str]:
    """Tracker folders under ``<root>/tracks``, sorted."""
    base = Path(root).expanduser() / TRACKS_DIR
    if not base.is_dir():
        return []
    return sorted(d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))


def available_tags(root: str | os.PathLike[str], tracker: str) -> list[str]:
    """Config tags cached for ``tracker`` under ``root``, sorted."""
    base = Path(root).expanduser() / TRACKS_DIR / _check_name(tracker, "tracker name")
    if not base.is_dir():
        return []
    return sorted(d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))


def read_tracks(root: str | os.PathLike[str], tracker: str, tag: str, seq: str, frame: int | str) -> Tracks:
    """Read the cached tracks of query frame ``frame`` of ``seq``.

    Raises:
        DataLayoutError: the entry is missing; the message lists what is cached and the ``spelke
            tracks`` command that creates it.
        FileFormatError: the file is not a track file.
    """
    path = track_path(root, tracker, tag, seq, frame)
    if not path.is_file():
        root_p = Path(root).expanduser()
        if not track_dir(root_p, tracker, tag).is_dir():
            have = [f"{t}/{g}" for t in available_trackers(root_p) for g in available_tags(root_p, t)]
            extra = f" (no '{tracker}/{tag}' tracks at {root_p}; cached: {', '.join(have) or 'none'})"
        else:
            extra = ""
        raise DataLayoutError(
            f"no cached tracks at {path} (tracker '{tracker}', tag '{tag}', sequence '{seq}', query frame "
            f"{frame_stem(frame)}){extra}; create them with: spelke tracks --dataset NAME --root {root_p} "
            f"--tracker {tracker} (or: spelke tracks VIDEO_OR_FOLDER --out {root_p} --tracker {tracker})"
        )
    return load_tracks(path)


# --------------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------------


def read_track_manifest(root: str | os.PathLike[str], tracker: str, tag: str) -> dict[str, Any]:
    """The manifest of a (tracker, tag) folder, ``{}`` when it has none."""
    p = track_dir(root, tracker, tag) / MANIFEST
    if not p.is_file():
        return {}
    m = read_json(p)
    if not isinstance(m, dict):
        raise FileFormatError(f"{p} must hold a JSON object, got {type(m).__name__}")
    return m


def _flow_identity(flow: dict[str, Any] | None) -> dict[str, Any] | None:
    """What makes flow the same flow: backend, version and options (not whether it came from a cache)."""
    if flow is None:
        return None
    return {k: flow.get(k) for k in ("backend", "version", "options")} if flow else {}


def _differences(old: Any, new: Any) -> str:
    """``key: cached -> this run`` for the keys of two dicts that differ (or the two values)."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new), key=str)
        parts = [
            f"{k} {old.get(k)!r} (cached) vs {new.get(k)!r} (this run)"
            for k in keys
            if old.get(k) != new.get(k)
        ]
        return ", ".join(parts)
    return f"{old!r} (cached) vs {new!r} (this run)"


def update_track_manifest(
    root: str | os.PathLike[str],
    tracker: str,
    tag: str,
    *,
    version: str = "",
    options: dict[str, Any] | None = None,
    flow: dict[str, Any] | None = None,
    sequences: dict[str, dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Create or extend the manifest of a (tracker, tag) folder, under a lock (shards run concurrently).

    Raises:
        ConfigError: the folder holds tracks of other options or another flow; mixing them would make
            the cache lie. The message names both and how to keep them apart.
    """
    folder = track_dir(root, tracker, tag)
    options = dict(options or {})
    flow = dict(flow or {})
    with folder_lock(folder):
        m = read_track_manifest(root, tracker, tag)
        if m:
            for key, old, new in (
                ("version", m.get("version"), version),
                ("options", m.get("options"), options),
                # the same flow read from a cache or computed on the fly gives the same tracks
                ("flow", _flow_identity(m.get("flow")), _flow_identity(flow)),
            ):
                if old is not None and old != new:
                    raise ConfigError(
                        f"the track cache {folder} was computed with other {key}: {_differences(old, new)}; "
                        "write to another tag (spelke tracks --tag NAME) or delete the folder"
                    )
        seqs = dict(m.get("sequences") or {})
        for s, info in (sequences or {}).items():
            seqs[s] = {**seqs.get(s, {}), **info}
        m.update(
            {
                "tracker": tracker,
                "tag": tag,
                "version": version,
                "options": options,
                "flow": flow,
                "layout": "<seq>/<query frame>.npz: xy (T,N,2) float32 px, vis (T,N) bool, t (T,), size (H,W)",
                "spelke_version": __version__,
                "sequences": dict(sorted(seqs.items())),
                **extra,
            }
        )
        write_json(folder / MANIFEST, m)
    return m


class TrackCache:
    """One track cache folder: a root, a tracker name and a tag, with the functions above as methods.

    Examples:
        >>> import tempfile, numpy as np
        >>> from spelke.motion.tracks import Tracks
        >>> cache = TrackCache(tempfile.mkdtemp(), "gt", "s8")
        >>> _ = cache.write("seq", 0, Tracks(np.zeros((2, 3, 2)), np.ones((2, 3), bool), [0, 1], (4, 4)))
        >>> cache.has("seq", 0), cache.read("seq", 0).t.tolist()
        (True, [0, 1])
    """

    def __init__(self, root: str | os.PathLike[str], tracker: str, tag: str) -> None:
        self.root = Path(root).expanduser()
        self.tracker = tracker
        self.tag = tag
        track_dir(self.root, tracker, tag)  # validates the names

    @property
    def folder(self) -> Path:
        return track_dir(self.root, self.tracker, self.tag)

    def path(self, seq: str, frame: int | str) -> Path:
        return track_path(self.root, self.tracker, self.tag, seq, frame)

    def read(self, seq: str, frame: int | str) -> Tracks:
        return read_tracks(self.root, self.tracker, self.tag, seq, frame)

    def write(self, seq: str, frame: int | str, tracks: Tracks) -> Path:
        return write_tracks(self.root, self.tracker, self.tag, seq, frame, tracks)

    def has(self, seq: str, frame: int | str, size: tuple[int, int] | None = None) -> bool:
        return has_tracks(self.root, self.tracker, self.tag, seq, frame, size)

    @property
    def manifest(self) -> dict[str, Any]:
        return read_track_manifest(self.root, self.tracker, self.tag)

    def __repr__(self) -> str:
        return f"TrackCache(root='{self.root}', tracker='{self.tracker}', tag='{self.tag}')"
