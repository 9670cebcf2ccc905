"""Reading a frame's flow from the flow cache under a dataset root: the one place datasets do it.

The cache layout (docs/contracts.md, "Flow cache") is
``<root>/flows/<backend>/Flows_gap<k>/<seq>/<frame>.flo``, with ``gap`` signed (``Flows_gap-2``);
plain motion-grouping trees keep ``Flows_gap<k>/<seq>/`` at the root. ``spelke.motion`` owns the cache
(writers, manifests, a richer reader); the data layer cannot import it (lower layers never import higher
ones), so the datasets here read single files through this function and nothing else, which keeps the
two easy to reconcile.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spelke.data.flow_io import read_flo
from spelke.errors import ConfigError

__all__ = ["CachedFlow", "cached_flow", "cached_flow_path"]


def cached_flow_path(
    root: Path, seq: str, name: str, index: int, gap: int = 1, backend: str = "gt"
) -> Path | None:
    """The cached ``.flo`` file of frame ``name`` (position ``index``) of ``seq``, or None if absent.

    Looked up, in order: ``flows/<backend>/Flows_gap<gap>/<seq>/<name>.flo``, the same with the
    position as ``<index:05d>.flo`` (frame names and positions coincide in spelke's trees but not in
    FBMS or SegTrackv2), then the plain motion-grouping tree ``Flows_gap<gap>/<seq>/`` at the root.
    """
    folders = [Path(root) / "flows" / backend / f"Flows_gap{gap}" / seq] if backend else []
    folders.append(Path(root) / f"Flows_gap{gap}" / seq)
    for folder in folders:
        for stem in dict.fromkeys((name, f"{index:05d}")):
            p = folder / f"{stem}.flo"
            if p.is_file():
                return p
    return None


def cached_flow(
    root: Path, seq: str, name: str, index: int, gap: int = 1, backend: str = "gt"
) -> np.ndarray | None:
    """Flow ``(2, H, W)`` (pixels, channel 0 = x) from frame ``index`` to frame ``index + gap``, or None.

    None means the cache has no such file (no cache, another backend, or the last frames of a clip,
    which have no partner ``gap`` frames later).
    """
    p = cached_flow_path(root, seq, name, index, gap, backend)
    return None if p is None else read_flo(p)


class CachedFlow:
    """Mixin for sequence datasets: ``flow(seq, i, gap, backend)`` read from the flow cache.

    The host class provides ``root``, ``frame_names(seq)`` and ``frame_index(seq, i)`` (every
    :class:`~spelke.data.datasets.base.SequenceDataset` does).
    """

    #: Backend read when ``flow`` is called without one; None: the only backend under ``flows/``.
    default_flow_backend: str | None = None

    def flow_backends(self) -> list[str]:
        """Names of the backends cached under ``<root>/flows/`` (empty when there is no cache)."""
        d = Path(self.root) / "flows"  # type: ignore[attr-defined]
        if not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))

    def flow(self, seq: str, i: int | str, gap: int = 1, backend: str | None = None) -> np.ndarray | None:
        """Cached flow ``(2, H, W)`` from frame ``i`` of ``seq`` to frame ``i + gap``; None if not cached.

        Args:
            seq: the sequence.
            i: frame position (negative allowed) or name.
            gap: signed frame gap (``-1`` = to the previous frame).
            backend: the cache's backend folder (``flows/<backend>/``); default
                :attr:`default_flow_backend`, else the only backend cached (an error names them when
                there are several).
        """
        k = self.frame_index(seq, i)  # type: ignore[attr-defined]
        name = self.frame_names(seq)[k]  # type: ignore[attr-defined]
        if backend is None:
            backend = self.default_flow_backend
        if backend is None:
            have = self.flow_backends()
            if len(have) > 1:
                raise ConfigError(
                    f"{self.root}/flows holds several flow backends ({', '.join(have)}); "  # type: ignore[attr-defined]
                    "choose one with backend=NAME"
                )
            backend = have[0] if have else ""
        return cached_flow(Path(self.root), seq, name, k, int(gap), backend)  # type: ignore[attr-defined]
