"""Training data for motion-supervised methods: frames with flow, tracks and a second frame.

:class:`MotionFrames` turns any registered sequence dataset (plus its flow cache and track cache) into a
PyTorch dataset of single frames, each with what the method's loss needs:

* the RGB frame resized to the network input (bicubic, GWM App. C.1);
* optical flow for one gap drawn at random each time the frame is drawn (GWM App. C.1: "we sample one at
  random for each iteration"), resized by nearest neighbour to the flow grid with u, v rescaled to the
  new pixel size, and optionally clipped (the released GWM code clips to [-20, 20]);
* point tracks queried in that frame (LRTL), rescaled to the input grid, and the frame ``dt`` later for
  the temporal-smoothing loss (reflected at the clip's end);
* optional horizontal flips that flip the flow's u and the tracks' x too (LRTL App. E);
* optional random zoom: a crop of the same random fraction of both sides of the frame, resized back to
  the input, with the flow cropped alike and its u, v scaled by the zoom (spelke's choice for tiny training
  sets; not in the papers).

Missing signals fail early with the command that creates them.

:class:`ImageFrames` is the image-only counterpart for methods that learn from single images (the
ClevrTex model zoo): items hold just the image at the network input size.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from spelke.engine.types import Batch
from spelke.errors import ConfigError, DataLayoutError


@dataclass(frozen=True)
class FrameItem:
    sequence: str
    index: int
    gaps: tuple[int, ...]


def resize_image(image: np.ndarray | torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of ``(3, H, W)`` or ``(B, 3, H, W)`` images in [0, 1] (antialiased when shrinking)."""
    x = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image).float()
    squeeze = x.ndim == 3
    if squeeze:
        x = x[None]
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
    return x[0] if squeeze else x


def resize_flow_nearest(flow: np.ndarray | torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of ``(2, H, W)`` flow with u, v rescaled to the new pixel size."""
    x = torch.as_tensor(np.asarray(flow) if not isinstance(flow, torch.Tensor) else flow).float()
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    y = F.interpolate(x[None], size=size, mode="nearest")[0]
    scale = torch.tensor([size[1] / w, size[0] / h], dtype=y.dtype).view(2, 1, 1)
    return y * scale


class MotionFrames(torch.utils.data.Dataset):
    """Frames of a sequence dataset with the motion signals a method needs.

    Args:
        dataset: a registered sequence dataset (``spelke.data.create_dataset``).
        size: network input ``(H, W)``.
        flow_backend: the flow-cache backend to read (``gt``, ``dis``, ``raft-large``...); None: no flow.
        gaps: the flow gaps to draw from (GWM: 1, -1, 2, -2); frames with none of them are skipped.
        flow_size: the grid the loss sees the flow on (None: ``size``; GWM paper: 480x854).
        flow_clip: clip flow values to ``[-flow_clip, flow_clip]`` pixels of the flow grid (None: no clip).
        tracks: ``(tracker, tag)`` of the track cache to read; None: no tracks.
        track_points: keep at most this many tracks per frame (random subset per draw; None: all).
        next_offset: frame offset of the second frame for LRTL's temporal loss (None: no second frame).
        hflip: draw horizontal flips with probability 0.5.
        zoom: ``(low, high)`` side fractions of the frame to crop at random and resize back to the
            input (e.g. ``(0.7, 1.0)``); None: no zoom. Not with tracks.
        sequences: restrict to these sequences.
        seed: seeds the random gap, flip and track-subset draws.
        cache_images: keep resized images in memory (small datasets).
    """

    def __init__(
        self,
        dataset: Any,
        size: tuple[int, int],
        *,
        flow_backend: str | None = None,
        gaps: Sequence[int] = (1, -1, 2, -2),
        flow_size: tuple[int, int] | None = None,
        flow_clip: float | None = None,
        tracks: tuple[str, str] | None = None,
        track_points: int | None = None,
        next_offset: int | None = None,
        hflip: bool = False,
        zoom: tuple[float, float] | None = None,
        sequences: Sequence[str] | None = None,
        seed: int = 0,
        cache_images: bool = True,
    ) -> None:
        self.ds = dataset
        self.size = (int(size[0]), int(size[1]))
        self.flow_backend = flow_backend
        # the plain motion-grouping tree (Flows_gap<k>/ at the root) has no backend folder
        self._backend_dir = "" if flow_backend in (None, "plain") else flow_backend
        self.flow_size = tuple(flow_size) if flow_size else self.size
        self.flow_clip = flow_clip
        self.tracks = tracks
        self.track_points = track_points
        self.next_offset = next_offset
        self.hflip = hflip
        self.zoom = _check_zoom(zoom, tracks)
        self.rng = np.random.default_rng(seed)
        self.cache_images = cache_images
        self._images: OrderedDict[tuple[str, int], torch.Tensor] = OrderedDict()
        seqs = list(sequences) if sequences is not None else list(dataset.sequences)
        if not seqs:
            raise DataLayoutError(f"dataset at {dataset.root} has no sequences to train on")
        self.items: list[FrameItem] = []
        for seq in seqs:
            n = dataset.num_frames(seq)
            for i in range(n):
                ok_gaps: tuple[int, ...] = ()
                if flow_backend is not None:
                    ok_gaps = tuple(g for g in gaps if 0 <= i + g < n and self._has_flow(seq, i, g))
                    if not ok_gaps:
                        continue
                if tracks is not None and not self._track_file(seq, i).is_file():
                    continue
                self.items.append(FrameItem(seq, i, ok_gaps))
        if not self.items:
            raise DataLayoutError(self._missing_message(seqs[0]))
        total = sum(dataset.num_frames(q) for q in seqs)
        self.skipped = total - len(self.items)
        if self.skipped:
            import warnings

            warnings.warn(
                f"{self.skipped} of {total} frames have no cached flow for the gaps asked or no tracks and "
                "are left out of training",
                stacklevel=2,
            )
        if tracks is not None and next_offset:
            from spelke.motion.track_cache import read_tracks

            first = self.items[0]
            t = read_tracks(dataset.root, tracks[0], tracks[1], first.sequence, first.index).t
            if not (np.any(t == next_offset) or np.any(t == -next_offset)):
                raise ConfigError(
                    f"the tracks '{tracks[0]}/{tracks[1]}' span frame offsets {int(t.min())}..{int(t.max())}, "
                    f"which do not reach next_offset={next_offset}: lower next_offset or track a longer window"
                )

    # -- signals ---------------------------------------------------------------------------------------

    def _has_flow(self, seq: str, i: int, gap: int) -> bool:
        from spelke.data.datasets.flow_access import cached_flow_path

        name = self.ds.frame_names(seq)[i]
        p = cached_flow_path(Path(self.ds.root), seq, name, i, gap, self._backend_dir)
        return p is not None and Path(p).is_file()

    def flow(self, seq: str, i: int, gap: int) -> np.ndarray:
        """The cached flow of frame ``i`` of ``seq`` for ``gap``, at its stored size."""
        from spelke.data.datasets.flow_access import cached_flow

        name = self.ds.frame_names(seq)[i]
        f = cached_flow(Path(self.ds.root), seq, name, i, gap, self._backend_dir)
        if f is None:
            raise DataLayoutError(
                f"flow of {seq}/{name} (gap {gap}) disappeared from the '{self.flow_backend}' cache"
            )
        return f

    def _track_file(self, seq: str, i: int) -> Path:
        from spelke.motion.track_cache import track_path

        assert self.tracks is not None
        return track_path(self.ds.root, self.tracks[0], self.tracks[1], seq, self.ds.frame_names(seq)[i])

    def _missing_message(self, seq: str) -> str:
        root = self.ds.root
        parts = []
        if self.flow_backend == "gt":
            parts.append(
                f"no rendered ground-truth flow ('gt') for the gaps asked under {root}/flows; it is written "
                "by the generator (spelke generate moving-clevrtex ... writes flows/gt for its --gaps) and "
                "cannot be computed afterwards; or train on estimated flow: spelke flow --root "
                f"{root} --dataset NAME --backend dis --gaps 1,-1,2,-2, then flow_backend=dis"
            )
        elif self.flow_backend is not None:
            parts.append(
                f"no '{self.flow_backend}' flow for the gaps asked under {root}/flows; make it with: "
                f"spelke flow --root {root} --dataset NAME --backend {self.flow_backend} "
                "--gaps 1,-1,2,-2"
            )
        if self.tracks is not None:
            parts.append(
                f"no '{self.tracks[0]}/{self.tracks[1]}' tracks under {root}/tracks; make them with: "
                f"spelke tracks --root {root} --dataset NAME --tracker {self.tracks[0]} --tag {self.tracks[1]}"
            )
        return "nothing to train on: " + "; ".join(parts or [f"sequence {seq} has no frames"])

    def image(self, seq: str, i: int) -> torch.Tensor:
        key = (seq, i)
        if key in self._images:
            return self._images[key]
        img = resize_image(self.ds.image(seq, i), self.size)
        if self.cache_images:
            self._images[key] = img
            if len(self._images) > 20000:
                self._images.popitem(last=False)
        return img

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        item = self.items[idx]
        out: dict[str, Any] = {
            "image": self.image(item.sequence, item.index),
            "frame_index": item.index,
            "sequence": item.sequence,
        }
        labels = self.ds.labels(item.sequence, item.index)
        if labels is not None:
            lab = torch.as_tensor(labels)[None, None].float()
            out["labels"] = F.interpolate(lab, size=self.size, mode="nearest")[0, 0].long()
        if item.gaps:
            gap = int(item.gaps[self.rng.integers(len(item.gaps))])
            flow = self.flow(item.sequence, item.index, gap)
            f = resize_flow_nearest(flow, self.flow_size)  # type: ignore[arg-type]
            if self.flow_clip is not None:
                f = f.clamp(-self.flow_clip, self.flow_clip)
            out["flow"], out["gap"] = f, gap
        if self.tracks is not None:
            out.update(self._tracks(item))
        if self.hflip and self.rng.random() < 0.5:
            out = _hflip(out, self.size)
        if self.zoom is not None:
            s = float(self.rng.uniform(*self.zoom))
            if s < 1.0:
                out = _zoom(out, s, float(self.rng.random()), float(self.rng.random()))
        return out

    def _tracks(self, item: FrameItem) -> dict[str, Any]:
        from spelke.motion.track_cache import read_tracks

        assert self.tracks is not None
        tr = read_tracks(self.ds.root, self.tracks[0], self.tracks[1], item.sequence, item.index)
        h0, w0 = tr.size
        scale = np.array([self.size[1] / w0, self.size[0] / h0], np.float32)
        # Positions are pixel centres: rescale about the centre convention (x + 0.5) * s - 0.5.
        xy = (tr.xy + 0.5) * scale - 0.5
        vis = tr.vis
        if self.track_points is not None and xy.shape[1] > self.track_points:
            keep = np.sort(self.rng.choice(xy.shape[1], self.track_points, replace=False))
            xy, vis = xy[:, keep], vis[:, keep]
        out: dict[str, Any] = {
            "tracks": torch.from_numpy(np.ascontiguousarray(xy)),
            "track_vis": torch.from_numpy(np.ascontiguousarray(vis)),
            "query": int(tr.query_index),
        }
        if self.next_offset:
            n = self.ds.num_frames(item.sequence)
            dt = self.next_offset
            j = item.index + dt
            if j >= n:  # reflect at the clip's end (the tracks are reflection-padded the same way)
                dt = -dt
                j = item.index + dt
            rows = np.nonzero(tr.t == dt)[0]
            if 0 <= j < n and len(rows):
                out["image_next"] = self.image(item.sequence, j)
                # with reflection padding a frame can appear twice: take the row reached directly
                out["next_index"] = int(rows[np.argmin(np.abs(rows - (tr.query_index + dt)))])
        return out


class ImageFrames(torch.utils.data.Dataset):
    """The images of an image dataset at the network input size: items ``{"image", "frame_index",
    "sequence"}`` (the image's name), for methods trained on single images (the ClevrTex zoo).

    Args:
        dataset: a registered image dataset (``spelke.data.create_dataset("clevrtex", ...)``: anything
            with ``image(i)`` and ``len``), or a ``(N, 3, H, W)`` tensor or array of images in [0, 1].
        size: network input ``(H, W)``; images of another size are resized bicubically (antialiased).
        cache_images: keep resized images in memory, the least recently read dropped first once they
            take more than ``cache_bytes``.
        cache_bytes: the cache's budget (default 2 GiB: every image of a 64x64 ClevrTex, about 10 000 at
            128x128; the official 50 000 at 128x128 would take 9.8 GB as float32). Each data-loader
            worker holds its own cache.
    """

    def __init__(
        self, dataset: Any, size: tuple[int, int], *, cache_images: bool = True, cache_bytes: int = 2 << 30
    ) -> None:
        self.ds = dataset
        self.size = (int(size[0]), int(size[1]))
        self.cache_images = cache_images
        self.cache_bytes = int(cache_bytes)
        self._cached_bytes = 0
        self._images: OrderedDict[int, torch.Tensor] = OrderedDict()
        n = len(dataset)
        if n == 0:
            root = getattr(dataset, "root", None)
            raise DataLayoutError(
                f"nothing to train on: the image dataset{f' at {root}' if root else ''} is empty"
            )
        names = getattr(dataset, "names", None)
        self.names = [str(x) for x in names] if names is not None else [f"{i:06d}" for i in range(n)]

    def __len__(self) -> int:
        return len(self.names)

    def image(self, i: int) -> torch.Tensor:
        if i in self._images:
            self._images.move_to_end(i)
            return self._images[i]
        raw = self.ds.image(i) if hasattr(self.ds, "image") else self.ds[i]
        img = resize_image(raw, self.size)
        if img.ndim != 3 or img.shape[0] != 3:
            raise ConfigError(
                f"image {self.names[i]} must be (3, H, W) in [0, 1], got shape {tuple(img.shape)}"
            )
        if self.cache_images:
            self._images[i] = img
            self._cached_bytes += img.element_size() * img.nelement()
            while self._cached_bytes > self.cache_bytes and self._images:
                old = self._images.popitem(last=False)[1]
                self._cached_bytes -= old.element_size() * old.nelement()
        return img

    def __getitem__(self, idx: int) -> dict[str, Any]:
        return {"image": self.image(idx), "frame_index": idx, "sequence": self.names[idx]}


def _hflip(d: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    d = dict(d)
    for k in ("image", "image_next", "labels"):
        if k in d:
            d[k] = d[k].flip(-1)
    if "flow" in d:
        f = d["flow"].flip(-1).clone()
        f[0] = -f[0]
        d["flow"] = f
    if "tracks" in d:
        t = d["tracks"].clone()
        t[..., 0] = size[1] - 1 - t[..., 0]
        d["tracks"] = t
    return d


def _check_zoom(zoom: Sequence[float] | None, tracks: tuple[str, str] | None) -> tuple[float, float] | None:
    if zoom is None:
        return None
    z = tuple(float(v) for v in zoom)
    if len(z) != 2 or not 0.1 <= z[0] <= z[1] <= 1.0:
        raise ConfigError(
            f"zoom must be two side fractions low <= high in [0.1, 1], such as [0.7, 1.0]; got {list(zoom)}"
        )
    if tracks is not None:
        raise ConfigError("zoom does not transform point tracks; leave zoom unset for methods with tracks")
    return (z[0], z[1])


def _crop_box(n: int, s: float, u: float) -> tuple[int, int]:
    """Start and length of a crop of fraction ``s`` of ``n`` pixels at relative offset ``u`` in [0, 1]."""
    length = max(1, round(s * n))
    return round(u * (n - length)), length


def _zoom(d: dict[str, Any], s: float, u: float, v: float) -> dict[str, Any]:
    """Crop the same fraction ``s`` of the frame from image, labels and flow (offsets ``u``, ``v`` of the
    free range) and resize each back to its grid; flow vectors grow by the zoom factor of each axis."""
    d = dict(d)
    for k in ("image", "labels", "flow"):  # never tracks or a second frame: MotionFrames refuses those
        if k not in d:
            continue
        x = torch.as_tensor(d[k])
        h, w = x.shape[-2:]
        y0, ch = _crop_box(h, s, v)
        x0, cw = _crop_box(w, s, u)
        crop = x[..., y0 : y0 + ch, x0 : x0 + cw]
        if k == "labels":
            d[k] = F.interpolate(crop[None, None].float(), size=(h, w), mode="nearest")[0, 0].long()
        elif k == "flow":
            f = F.interpolate(crop[None].float(), size=(h, w), mode="nearest")[0]
            scale = torch.tensor([w / cw, h / ch], dtype=f.dtype).view(2, 1, 1)
            d[k] = f * scale
        else:
            d[k] = F.interpolate(crop[None], size=(h, w), mode="bicubic", align_corners=False)[0].clamp_(0, 1)
    return d


def collate(items: list[dict[str, Any]]) -> Batch:
    """Stack items into a :class:`Batch`; tracks are padded to the longest and marked in ``track_valid``."""
    if not items:
        raise ConfigError("cannot collate an empty batch")

    def stack(key: str) -> torch.Tensor | None:
        if not all(key in it for it in items):
            return None
        return torch.stack([torch.as_tensor(it[key]) for it in items])

    def ints(key: str) -> torch.Tensor | None:
        if not all(key in it for it in items):
            return None
        return torch.tensor([int(it[key]) for it in items], dtype=torch.long)

    tracks = vis = valid = None
    if all("tracks" in it for it in items):
        t = max(it["tracks"].shape[0] for it in items)
        n = max(it["tracks"].shape[1] for it in items)
        if any(it["tracks"].shape[0] != t for it in items):
            raise ConfigError("tracks of one batch must have the same number of frames (same window)")
        b = len(items)
        tracks = torch.zeros(b, t, n, 2)
        vis = torch.zeros(b, t, n, dtype=torch.bool)
        valid = torch.zeros(b, n, dtype=torch.bool)
        for k, it in enumerate(items):
            m = it["tracks"].shape[1]
            tracks[k, :, :m] = it["tracks"]
            vis[k, :, :m] = it["track_vis"]
            valid[k, :m] = True
    next_ok = all("image_next" in it for it in items)
    return Batch(
        image=stack("image"),  # type: ignore[arg-type]
        flow=stack("flow"),
        gap=ints("gap"),
        tracks=tracks,
        track_vis=vis,
        track_valid=valid,
        query=ints("query"),
        image_next=stack("image_next") if next_ok else None,
        next_index=ints("next_index") if next_ok else None,
        frame_index=ints("frame_index"),
        sequence=[str(it.get("sequence", "")) for it in items],
        labels=stack("labels"),
    )
