"""The flow cache: optical flow computed once, stored under the dataset root, read by every method.

Layout (docs/contracts.md, "Flow cache")::

    <root>/flows/<backend>/manifest.json
    <root>/flows/<backend>/Flows_gap<k>/<seq>/<frame>.flo

* ``<backend>`` is the backend's registered name (``dis``, ``raft-large``, ...), ``gt`` for rendered
  ground truth, or any name given with ``name=`` to keep several settings of one backend apart.
* ``k`` is the signed frame gap: ``Flows_gap1`` holds the flow from frame ``t`` to ``t + 1``,
  ``Flows_gap-2`` from ``t`` to ``t - 2``.
* The file is named after the **source** frame ``t``: ``Flows_gap-1/<seq>/00005.flo`` is the flow
  from frame 5 to frame 4. This is what motion-grouping's ``raft/predict.py`` writes (the forward
  flow saved under the first image's name, the reversed one under the later image's name, which is
  its source) and so what GWM, LRTL and FlowSAM read. The last ``k`` frames have no ``Flows_gap<k>``
  file, the first ``k`` no ``Flows_gap-<k>`` file.
* ``<frame>`` is the frame's name in its dataset (the image's stem); integer frames are written as
  five digits (``00005``), the DAVIS convention.
* Files are Middlebury ``.flo`` (float32, pixels, channel 0 = x), written atomically.
* ``manifest.json`` records the backend, its version and options, the gaps, the spelke version, and
  per sequence the frame size and count (``resolution`` when every sequence shares one size).

Plain motion-grouping trees — ``<root>/Flows_gap<k>/<seq>/<frame>.flo`` directly under the dataset
root, as the motion-grouping/GWM data releases ship — are read as they are with the backend name
``plain`` (:data:`PLAIN`).

Examples:
    >>> import tempfile, numpy as np
    >>> root = tempfile.mkdtemp()
    >>> flow = np.ones((2, 4, 6), np.float32)
    >>> p = write_flow(root, "dis", -1, "cat", 3, flow)
    >>> p.relative_to(root).as_posix()
    'flows/dis/Flows_gap-1/cat/00003.flo'
    >>> read_flow(root, "dis", -1, "cat", 3).shape, available_gaps(root, "dis")
    ((2, 4, 6), [-1])
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spelke import __version__
from spelke.data.flow_io import FLO_MAGIC, read_flo, write_flo
from spelke.data.io import folder_lock, read_json, write_json
from spelke.errors import ConfigError, DataLayoutError, FileFormatError

__all__ = [
    "FLOWS_DIR",
    "GT",
    "MANIFEST",
    "PLAIN",
    "FlowCache",
    "available_backends",
    "available_gaps",
    "cache_dir",
    "flo_is_valid",
    "flow_path",
    "frame_stem",
    "gap_dirname",
    "has_flow",
    "parse_gap_dirname",
    "read_flow",
    "read_manifest",
    "update_manifest",
    "write_flow",
    "write_manifest",
]

#: Folder under the dataset root that holds one sub-folder per backend.
FLOWS_DIR = "flows"
#: Backend name of rendered ground-truth flow.
GT = "gt"
#: Backend name that reads a plain motion-grouping tree (``<root>/Flows_gap<k>/``).
PLAIN = "plain"
#: File name of a backend's manifest.
MANIFEST = "manifest.json"

_GAP_DIR = re.compile(r"^Flows_gap(-?\d+)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def gap_dirname(gap: int) -> str:
    """``Flows_gap<k>`` for a signed, non-zero gap: ``gap_dirname(-2) == "Flows_gap-2"``."""
    g = int(gap)
    if g == 0 or g != gap:
        raise ConfigError(f"a flow gap is a non-zero integer, got {gap!r}")
    return f"Flows_gap{g}"


def parse_gap_dirname(name: str) -> int | None:
    """The gap of a ``Flows_gap<k>`` folder name, None for other names."""
    m = _GAP_DIR.match(name)
    return int(m.group(1)) if m and int(m.group(1)) != 0 else None


def frame_stem(frame: int | str) -> str:
    """File stem of a frame: integers as five digits (``00007``), names as they are."""
    if isinstance(frame, (int, np.integer)):
        if frame < 0:
            raise ConfigError(f"frame index must be >= 0, got {frame}")
        return f"{int(frame):05d}"
    s = str(frame)
    if not s or "/" in s or "\\" in s:
        raise ConfigError(f"frame name must be a plain file stem, got {frame!r}")
    return s


def _check_name(backend: str) -> str:
    if not _NAME.match(str(backend)):
        raise ConfigError(
            f"flow cache name {backend!r} must be a plain folder name (letters, digits, '.', '_', '+', '-')"
        )
    return str(backend)


def cache_dir(root: str | os.PathLike[str], backend: str) -> Path:
    """``<root>/flows/<backend>``; for :data:`PLAIN`, ``<root>`` itself."""
    root_p = Path(root).expanduser()
    if backend == PLAIN:
        return root_p
    return root_p / FLOWS_DIR / _check_name(backend)


def flow_path(root: str | os.PathLike[str], backend: str, gap: int, seq: str, frame: int | str) -> Path:
    """Path of the flow from frame ``frame`` to ``frame + gap`` of sequence ``seq``.

    Examples:
        >>> flow_path("data/davis", "raft-large", -2, "bear", 7).as_posix()
        'data/davis/flows/raft-large/Flows_gap-2/bear/00007.flo'
        >>> flow_path("data/davis", "plain", 1, "bear", "00007").as_posix()
        'data/davis/Flows_gap1/bear/00007.flo'
    """
    return cache_dir(root, backend) / gap_dirname(gap) / str(seq) / f"{frame_stem(frame)}.flo"


def flo_is_valid(path: str | os.PathLike[str], size: tuple[int, int] | None = None) -> bool:
    """Whether ``path`` is a complete ``.flo`` file (magic, header and length), of ``size`` (H, W) if given.

    Reads only the 12-byte header; used to resume interrupted jobs without decoding every file.
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(12)
        length = p.stat().st_size
    except OSError:
        return False
    if len(head) < 12 or np.frombuffer(head, "<f4", count=1)[0] != np.float32(FLO_MAGIC):
        return False
    w, h = (int(v) for v in np.frombuffer(head, "<i4", count=2, offset=4))
    if w <= 0 or h <= 0 or length != 12 + 8 * w * h:
        return False
    return size is None or (h, w) == tuple(size)


def has_flow(
    root: str | os.PathLike[str],
    backend: str,
    gap: int,
    seq: str,
    frame: int | str,
    size: tuple[int, int] | None = None,
) -> bool:
    """Whether a complete cache entry exists (see :func:`flo_is_valid`)."""
    return flo_is_valid(flow_path(root, backend, gap, seq, frame), size)


def write_flow(
    root: str | os.PathLike[str], backend: str, gap: int, seq: str, frame: int | str, flow: Any
) -> Path:
    """Write one cache entry atomically (the flow from ``frame`` to ``frame + gap``); returns its path.

    The renderer uses this with ``backend="gt"`` for ground-truth flow. Unlike
    :func:`spelke.data.write_flow`, which takes a file path, this takes the cache coordinates.
    """
    if backend == PLAIN:
        raise ConfigError("spelke writes flow in its own layout (flows/<backend>/); 'plain' is read-only")
    path = flow_path(root, backend, gap, seq, frame)
    write_flo(path, flow)
    return path


def _missing_hint(root: Path, backend: str, gap: int) -> str:
    if backend == GT:
        return (
            "ground-truth flow ('gt') is written by spelke's benchmark generators together with the frames; "
            "regenerate the sequence, or compute an estimate with: "
            f"spelke flow --dataset NAME --root {root} --gaps {gap} --backend dis"
        )
    if backend == PLAIN:
        return (
            "a plain motion-grouping tree is made by that project's scripts (raft/run_inference.py); "
            f"spelke computes its own cache with: spelke flow --dataset NAME --root {root} --gaps {gap} "
            "--backend raft-large"
        )
    return (
        f"create it with: spelke flow --dataset NAME --root {root} --gaps {gap} --backend {backend} "
        f"(or: spelke flow VIDEO_OR_FOLDER --out {root} --gaps {gap} --backend {backend})"
    )


def read_flow(root: str | os.PathLike[str], backend: str, gap: int, seq: str, frame: int | str) -> np.ndarray:
    """Read the cached flow from ``frame`` to ``frame + gap`` of ``seq``: float32 ``(2, H, W)``.

    Raises:
        DataLayoutError: the entry is missing; the message says which ``spelke flow`` command creates it.
        FileFormatError: the file is not a valid ``.flo`` file (e.g. truncated).
    """
    path = flow_path(root, backend, gap, seq, frame)
    if not path.is_file():
        root_p = Path(root).expanduser()
        where = f"backend '{backend}', gap {gap}, sequence '{seq}', frame {frame_stem(frame)}"
        seq_dir = path.parent
        extra = ""
        if seq_dir.is_dir():
            extra = (
                f" (the sequence folder exists; note the last {abs(gap)} frame(s) have no "
                f"{'forward' if gap > 0 else 'backward'} flow at gap {gap}: the target frame is outside the clip)"
            )
        elif not cache_dir(root_p, backend).is_dir():
            have = available_backends(root_p)
            extra = f" (no '{backend}' flow cache at {root_p}; caches present: {', '.join(have) or 'none'})"
        raise DataLayoutError(
            f"no cached flow at {path} ({where}){extra}; {_missing_hint(root_p, backend, gap)}"
        )
    return read_flo(path)


def available_backends(root: str | os.PathLike[str]) -> list[str]:
    """Flow caches under ``root``: the backend folders in ``flows/`` that hold gap folders or a
    manifest, plus :data:`PLAIN` when ``root`` holds a motion-grouping tree."""
    root_p = Path(root).expanduser()
    out: list[str] = []
    base = root_p / FLOWS_DIR
    if base.is_dir():
        for d in sorted(base.iterdir()):
            if d.is_dir() and not d.name.startswith(".") and ((d / MANIFEST).is_file() or _gap_dirs(d)):
                out.append(d.name)
    if _gap_dirs(root_p):
        out.append(PLAIN)
    return out


def _gap_dirs(folder: Path) -> dict[int, Path]:
    if not folder.is_dir():
        return {}
    out = {}
    for d in folder.iterdir():
        g = parse_gap_dirname(d.name)
        if g is not None and d.is_dir():
            out[g] = d
    return out


def available_gaps(root: str | os.PathLike[str], backend: str, seq: str | None = None) -> list[int]:
    """Gaps present in a cache (as folders ``Flows_gap<k>``), sorted; with ``seq``, only those with a
    folder for that sequence."""
    gaps = _gap_dirs(cache_dir(root, backend))
    return sorted(g for g, d in gaps.items() if seq is None or (d / seq).is_dir())


# --------------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------------


def read_manifest(root: str | os.PathLike[str], backend: str) -> dict[str, Any]:
    """The manifest of a cache, ``{}`` when it has none (plain trees never have one)."""
    p = cache_dir(root, backend) / MANIFEST
    if backend == PLAIN or not p.is_file():
        return {}
    m = read_json(p)
    if not isinstance(m, dict):
        raise FileFormatError(f"{p} must hold a JSON object, got {type(m).__name__}")
    return m


def write_manifest(root: str | os.PathLike[str], backend: str, manifest: dict[str, Any]) -> Path:
    """Write a cache's manifest as given (atomically); prefer :func:`update_manifest`."""
    if backend == PLAIN:
        raise ConfigError("a plain motion-grouping tree has no manifest; 'plain' is read-only")
    p = cache_dir(root, backend) / MANIFEST
    write_json(p, manifest)
    return p


def update_manifest(
    root: str | os.PathLike[str],
    name: str,
    *,
    backend: str,
    version: str = "",
    options: dict[str, Any] | None = None,
    gaps: Sequence[int] = (),
    sequences: dict[str, dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Create or extend the manifest of cache ``name``, under a lock (shards call this concurrently).

    Gaps and sequences are merged into what is there; ``resolution`` is recomputed (``[H, W]`` when
    every sequence has one size, else None).

    Raises:
        ConfigError: the cache was made by another backend, version or options: mixing them in one
            folder would make the cache lie. The message names both and how to keep them apart.
    """
    folder = cache_dir(root, name)
    options = dict(options or {})
    with folder_lock(folder):
        m = read_manifest(root, name)
        if m:
            for key, new in (("backend", backend), ("version", version), ("options", options)):
                old = m.get(key)
                if old is not None and old != new:
                    raise ConfigError(
                        f"the flow cache {folder} was computed with {key} {old!r}, this run uses {new!r}; "
                        "write to another cache name (spelke flow --name NAME) or delete the folder"
                    )
        seqs = dict(m.get("sequences") or {})
        for s, info in (sequences or {}).items():
            seqs[s] = {**seqs.get(s, {}), **info}
        sizes = {tuple(v["size"]) for v in seqs.values() if v.get("size")}
        m.update(
            {
                "backend": backend,
                "version": version,
                "options": options,
                "gaps": sorted(set(m.get("gaps") or []) | {int(g) for g in gaps}),
                "layout": "Flows_gap<k>/<seq>/<source frame>.flo",
                "resolution": list(next(iter(sizes))) if len(sizes) == 1 else None,
                "spelke_version": __version__,
                "sequences": dict(sorted(seqs.items())),
                **extra,
            }
        )
        write_manifest(root, name, m)
    return m


class FlowCache:
    """One flow cache of a dataset: a root and a backend name, with the functions above as methods.

    Examples:
        >>> import tempfile, numpy as np
        >>> cache = FlowCache(tempfile.mkdtemp(), "gt")
        >>> _ = cache.write(1, "seq", 0, np.zeros((2, 3, 3), np.float32))
        >>> cache.read(1, "seq", 0).shape, cache.gaps()
        ((2, 3, 3), [1])
    """

    def __init__(self, root: str | os.PathLike[str], backend: str) -> None:
        self.root = Path(root).expanduser()
        self.backend = backend
        cache_dir(self.root, backend)  # validates the name

    @property
    def folder(self) -> Path:
        return cache_dir(self.root, self.backend)

    def path(self, gap: int, seq: str, frame: int | str) -> Path:
        return flow_path(self.root, self.backend, gap, seq, frame)

    def read(self, gap: int, seq: str, frame: int | str) -> np.ndarray:
        return read_flow(self.root, self.backend, gap, seq, frame)

    def write(self, gap: int, seq: str, frame: int | str, flow: Any) -> Path:
        return write_flow(self.root, self.backend, gap, seq, frame, flow)

    def has(self, gap: int, seq: str, frame: int | str, size: tuple[int, int] | None = None) -> bool:
        return has_flow(self.root, self.backend, gap, seq, frame, size)

    def gaps(self, seq: str | None = None) -> list[int]:
        return available_gaps(self.root, self.backend, seq)

    @property
    def manifest(self) -> dict[str, Any]:
        return read_manifest(self.root, self.backend)

    def __repr__(self) -> str:
        return f"FlowCache(root='{self.root}', backend='{self.backend}')"
