"""Inference: segment a video, a frame folder or a dataset with a trained checkpoint.

``segment(checkpoint, source, out)`` writes, in the run-directory layout of DESIGN.md:

* ``predictions/<seq>/<frame>.png``: binary foreground (kind ``binary``): the K components merged into
  two by the spectral cut of thesis eq. (3.6), the foreground chosen without ground truth (config
  ``foreground``) — read by the ``davis2016`` / ``segtrackv2`` / ``fbms59`` protocols;
* ``predictions-merged/<seq>/<frame>.png``: the two merged clusters as labels 1 and 2 (kind ``labels``),
  for the GT-matched choice of the papers (``*-oracle-gwm`` / ``*-oracle-lrtl`` protocols);
* ``predictions-components/<seq>/<frame>.png``: the K-way argmax (labels 1..K), for J_oracle and the
  multi-object protocols;
* ``predictions-soft/<seq>/<frame>.npz``: the K soft masks (float16), with ``soft=True``;
* ``overlays/<seq>.gif`` and ``overlays/<seq>/<frame>.jpg``: pictures of the frames with their masks.

Masks are predicted at the config's input size and upsampled bilinearly to each frame's own size
(App. C.1). Finished frames are skipped, so an interrupted run is simply started again.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spelke import __version__
from spelke.data.io import write_json, write_label_map, write_soft_mask
from spelke.engine.checkpoint import check_header, load_checkpoint, load_state_strict
from spelke.engine.data import resize_image
from spelke.errors import ConfigError
from spelke.methods.config import config_from_dict
from spelke.methods.gwm import upsample_logits
from spelke.methods.registry import method_class

ProgressFn = Callable[[int, int, str], None]


def load_trained(
    checkpoint: str | os.PathLike[str], method: str | None = None
) -> tuple[Any, torch.nn.Module]:
    """Rebuild ``(method, model)`` from a checkpoint; refuses another method's checkpoint by name."""
    header, state = load_checkpoint(checkpoint)
    check_header(header, method=method, path=checkpoint)
    cls = method_class(header["method"])
    cfg = dict(header.get("config", {}))
    if "pretrained" in cfg:  # every weight is in the checkpoint: do not reload the backbone's initialisation
        cfg["pretrained"] = None
    m = cls(config_from_dict(cls.config_class, cfg, cls.name))
    model = m.build_model()
    load_state_strict(model, state, checkpoint)
    return m, model.eval()


@torch.no_grad()
def predict(
    method: Any, model: torch.nn.Module, images: np.ndarray | torch.Tensor, size: tuple[int, int]
) -> tuple[torch.Tensor, Any]:
    """``(soft masks (B, K, *size), the model's output)`` for images ``(B, 3, H, W)`` in [0, 1], resized to
    the network input; the masks are the softmax of the logits upsampled to ``size``."""
    x = resize_image(images, tuple(method.config.input_size))
    if x.ndim == 3:
        x = x[None]
    dev = next(model.parameters()).device
    output = method.forward(model, x.to(dev))
    return torch.softmax(upsample_logits(output.logits, size), dim=1).cpu(), output  # thesis eq. (3.1)


def predict_masks(
    method: Any, model: torch.nn.Module, images: np.ndarray | torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """Soft masks ``(B, K, *size)`` for images ``(B, 3, H, W)`` in [0, 1] (resized to the input size)."""
    return predict(method, model, images, size)[0]


@dataclass
class SegmentReport:
    out: Path
    sequences: int = 0
    frames: int = 0
    skipped: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"segmented {self.frames} frame(s) of {self.sequences} sequence(s), skipped {self.skipped} "
            f"already done, in {self.seconds:.1f} s -> {self.out}"
        )


def _merge_features(method: Any, images: torch.Tensor) -> np.ndarray:
    """Dense features for the K->2 merge, computed on the network input (as GWM's code) and upsampled
    bilinearly to the frame: a ViT when configured with weights, else colour (fallback)."""
    import torch.nn.functional as F

    size = tuple(images.shape[-2:])
    small = resize_image(images, tuple(method.config.input_size))
    return F.interpolate(
        torch.as_tensor(_input_features(method, small)), size=size, mode="bilinear", align_corners=False
    ).numpy()


def _input_features(method: Any, images: torch.Tensor) -> np.ndarray:
    from spelke.methods.merge import appearance_features

    c = method.config
    if c.merge_features:
        from spelke.features import create_feature_extractor, dense_features

        ext = getattr(method, "_merge_extractor", None)
        if ext is None:
            ext = create_feature_extractor(c.merge_features, weights=c.merge_weights, stride=4).eval()
            method._merge_extractor = ext
        with torch.no_grad():
            f = dense_features(ext, images, facet="key", layer=-1, size=tuple(images.shape[-2:]))
        return f.numpy()
    return appearance_features(images.numpy())


def segment(
    checkpoint: str | os.PathLike[str],
    source: Any = None,
    out: str | os.PathLike[str] = "runs/segment",
    *,
    method: str | None = None,
    dataset: str | None = None,
    split: str | None = None,
    data_options: dict[str, Any] | None = None,
    sequences: list[str] | None = None,
    soft: bool = False,
    overlays: bool = True,
    tta_steps: int = 0,
    batch_size: int = 8,
    overwrite: bool = False,
    merge_features: str | None = None,
    merge_weights: str | None = None,
    foreground: str | None = None,
    progress: ProgressFn | None = None,
) -> SegmentReport:
    """Segment every frame of ``source`` with the model in ``checkpoint`` (layout in the module doc).

    Args:
        checkpoint: ``checkpoints/final.pt`` (or ``last.ckpt``) of a ``spelke train`` run.
        source: a video file, a frame folder, a dataset root, or a sequence dataset object.
        out: the output folder (usually the run directory).
        method: refuse a checkpoint of any other method.
        dataset, split, data_options: read ``source`` with this registered sequence dataset.
        sequences: only these sequences.
        soft: also write the K soft masks as ``.npz``.
        overlays: write overlay pictures (a GIF per sequence).
        tta_steps: test-time adaptation steps per sequence (GWM App. C.3.1: 20; needs cached flow).
        batch_size: frames per forward pass.
        overwrite: recompute frames that exist.
        merge_features, merge_weights, foreground: override the K->2 merge settings of the training
            config (a ViT feature extractor and its weights file; ``border`` or ``smaller``).
        progress: ``(done, total, message)`` callback.
    """
    from spelke.methods.merge import spectral_merge
    from spelke.motion.compute import open_sequences

    t0 = time.perf_counter()
    m, model = load_trained(checkpoint, method)
    for key, value in (
        ("merge_features", merge_features),
        ("merge_weights", merge_weights),
        ("foreground", foreground),
    ):
        if value is not None:
            if key == "foreground" and value not in ("border", "smaller"):
                raise ConfigError(f"foreground must be border or smaller, got {value!r}")
            setattr(m.config, key, value)
    ds = open_sequences(source, dataset=dataset, split=split, data_options=data_options)
    seqs = list(sequences) if sequences else list(ds.sequences)
    unknown = [s for s in seqs if s not in ds.sequences]
    if unknown:
        raise ConfigError(f"unknown sequence(s) {', '.join(unknown[:5])}; the source has {len(ds.sequences)}")
    out = Path(out)
    identity = _identity(checkpoint, tta_steps)
    identity["merge"] = [getattr(m.config, "merge_features", None), getattr(m.config, "foreground", None)]
    _check_manifest(out, identity, overwrite)
    rep = SegmentReport(out)
    instances = getattr(m, "output_kind", "binary") == "instances"
    total = sum(len(ds.frame_names(s)) for s in seqs)
    done = 0
    for seq in seqs:
        names = ds.frame_names(seq)
        todo = [
            i
            for i, n in enumerate(names)
            if overwrite
            or not (out / "predictions" / seq / f"{n}.png").is_file()
            or (soft and not (out / "predictions-soft" / seq / f"{n}.npz").is_file())
        ]
        rep.skipped += len(names) - len(todo)
        if not todo:
            done += len(names)
            continue
        net = model
        if tta_steps > 0:
            from spelke.engine.trainer import test_time_adapt

            frames = m.make_dataset(ds, seed=0, sequences=[seq])
            net = test_time_adapt(m, model, frames, steps=tta_steps)
        gif: list[np.ndarray] = []
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            imgs = [ds.image(seq, i) for i in idx]
            for i, img in zip(idx, imgs, strict=True):
                size = tuple(img.shape[-2:])
                probs = predict_masks(m, net, img, size)  # (1, K, H, W)
                name = names[i]
                if instances:
                    raw, labels = instance_labels(m, probs[0])
                    write_label_map(out / "predictions-raw" / seq / f"{name}.png", raw)
                    if soft:
                        write_soft_mask(out / "predictions-soft" / seq / f"{name}.npz", probs[0].numpy())
                    write_label_map(out / "predictions" / seq / f"{name}.png", labels)  # last: marks done
                    if overlays:
                        gif.append(_overlay_panel(img, labels, None))
                    rep.frames += 1
                    done += 1
                    if progress:
                        progress(done, total, f"{seq}/{name}")
                    continue
                feats = _merge_features(m, torch.as_tensor(img)[None])
                merged = spectral_merge(probs.numpy(), feats, foreground=m.config.foreground)
                comp = probs[0].argmax(0).numpy().astype(np.int64) + 1
                two = (merged.masks[0].argmax(0) + 1).astype(np.int64)
                # the foreground is the merged cluster 2 exactly (not "> 0.5", which rounding can split
                # from the argmax where the two merged masks are both near one half)
                fg = two == 2
                write_label_map(out / "predictions-components" / seq / f"{name}.png", comp)
                write_label_map(out / "predictions-merged" / seq / f"{name}.png", two)
                if soft:
                    write_soft_mask(out / "predictions-soft" / seq / f"{name}.npz", probs[0].numpy())
                # written last: its presence marks the frame finished
                write_label_map(out / "predictions" / seq / f"{name}.png", fg.astype(np.int64))
                if overlays:
                    gif.append(_overlay_panel(img, comp, fg))
                rep.frames += 1
                done += 1
                if progress:
                    progress(done, total, f"{seq}/{name}")
        if overlays and gif:
            from spelke.data.io import write_image
            from spelke.viz.video import write_gif

            write_gif(out / "overlays" / f"{seq}.gif", gif, fps=6)
            write_image(out / "overlays" / seq / f"{names[todo[0]]}.jpg", gif[0])
        rep.sequences += 1
    rep.seconds = time.perf_counter() - t0
    _finish_manifest(
        out,
        identity,
        checkpoint,
        m.name,
        source=str(getattr(ds, "root", source)),
        sequences=len(seqs),
        frames=total,
        merge_features=getattr(m.config, "merge_features", None) or "colour (fallback)",
        foreground=getattr(m.config, "foreground", None),
        tta_steps=tta_steps,
    )
    return rep


def _finish_manifest(
    out: Path, identity: dict[str, Any], checkpoint: Any, method: str, **fields: Any
) -> None:
    """Mark the predictions in ``out`` complete (the counterpart of :func:`_check_manifest`)."""
    write_json(
        out / "segment_manifest.json",
        {"identity": identity, "complete": True, "checkpoint": str(checkpoint), "method": method, **fields,
         "spelke_version": __version__},
    )  # fmt: skip


def _check_manifest(out: Path, identity: dict[str, Any], overwrite: bool) -> None:
    """Refuse to add to ``out`` when its ``segment_manifest.json`` names another checkpoint or setting
    (unless ``overwrite``), then mark ``out`` as in progress (``complete`` False) under ``identity``."""
    man_path = Path(out) / "segment_manifest.json"
    if man_path.is_file() and not overwrite:
        from spelke.data.io import read_json

        old = read_json(man_path).get("identity")
        same = old is None or (old.get("sha256"), old.get("tta_steps"), old.get("tta_rule")) == (
            identity["sha256"],
            identity["tta_steps"],
            identity["tta_rule"],
        )
        if not same:
            raise ConfigError(
                f"{out} holds predictions of another model or setting ({old.get('checkpoint')}, tta_steps "
                f"{old.get('tta_steps')}); pass another --out, or --overwrite to replace them"
            )
    write_json(man_path, {"identity": identity, "complete": False})


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int, inode: int) -> str:
    """The file's SHA-256 (cached by path, size, modification time and inode: a bench scores one
    checkpoint on several test splits; a rewritten file is hashed again)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _identity(checkpoint: Any, tta_steps: int) -> dict[str, Any]:
    """What makes predictions differ: the checkpoint's content (hash) and the adaptation steps."""
    st = os.stat(checkpoint)
    return {
        "checkpoint": str(checkpoint),
        "sha256": _sha256(os.path.realpath(checkpoint), st.st_size, st.st_mtime_ns, st.st_ino)[:16],
        "tta_steps": int(tta_steps),
        # version of the adaptation rule: 2 = batch-norm statistics frozen during adaptation
        "tta_rule": 2 if tta_steps else None,
    }


def instance_labels(method: Any, probs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """A multi-object method's ``(raw, labels)`` for soft masks ``(K, H, W)``: the argmax (labels 1..K)
    and, with the config's ``postprocess``, its connected-component clean-up (PPMP, thesis l.959)."""
    raw = probs.argmax(0).numpy().astype(np.int64) + 1
    c = method.config
    if not getattr(c, "postprocess", False):
        return raw, raw
    from spelke.methods.ppmp import postprocess_components

    return raw, postprocess_components(raw, c.num_masks, c.min_area)


def segment_stills(
    checkpoint: str | os.PathLike[str],
    dataset: Any,
    out: str | os.PathLike[str],
    *,
    method: str | None = None,
    soft: bool = False,
    overlays: int = 8,
    batch_size: int = 16,
    overwrite: bool = False,
    recon: bool = True,
    resize: bool = True,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: ProgressFn | None = None,
) -> SegmentReport:
    """Segment every image of an image dataset (e.g. ``create_dataset("clevrtex", root, split="test")``)
    into ``out/predictions/<item>.png`` label maps at the dataset's image size (for ClevrTex: the
    protocol's 128x128 centre crops), the way the ``clevrtex`` protocol reads them.

    Multi-object methods (PPMP, the ClevrTex zoo) write their K-way labels (post-processed when
    configured; the raw argmax in ``predictions-raw/``); foreground methods (GWM, LRTL) write the K-way
    argmax. Models that reconstruct their input (the zoo) also write ``out/predictions/<item>_recon.png``
    (with ``recon``), which the ``clevrtex`` protocol scores as MSE. ``overlays`` pictures of the first
    images go to ``out/overlays/``. Finished images are skipped.

    Args:
        resize: images whose size differs from the model's input are resized to it, and the masks and
            reconstructions back to the image size; False refuses them (ShapeError naming both sizes).
        seed: seeds the models that sample at test time (slot initialisation, latents), so that a re-run
            gives the same predictions; the global random state is left as it was.
        device: run the model there (default: the CPU).
    """
    from spelke.errors import ShapeError

    t0 = time.perf_counter()
    m, model = load_trained(checkpoint, method)
    out = Path(out)
    identity = _identity(checkpoint, 0)
    _check_manifest(out, identity, overwrite)
    rep = SegmentReport(out)
    names = list(dataset.names)
    todo = [i for i, n in enumerate(names) if overwrite or not (out / "predictions" / f"{n}.png").is_file()]
    rep.skipped = len(names) - len(todo)
    from spelke.data.io import write_image

    in_size = tuple(int(v) for v in m.config.input_size)
    if device is not None:
        model.to(device)
    dev = next(model.parameters()).device
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            imgs = [np.asarray(dataset.image(i), dtype=np.float32) for i in idx]
            sizes = {tuple(img.shape[-2:]) for img in imgs}
            if not resize and sizes != {in_size}:
                bad = next(s for s in sizes if s != in_size)
                raise ShapeError(
                    f"images of {bad[0]}x{bad[1]} do not fit the model's input {in_size[0]}x{in_size[1]}; "
                    "read the data at the model's size (e.g. dataset option size=) or allow resizing"
                )
            groups: dict[tuple[int, int], list[int]] = {}
            for j, img in enumerate(imgs):
                groups.setdefault(tuple(img.shape[-2:]), []).append(j)
            for size, members in groups.items():
                probs_all, output = predict(m, model, np.stack([imgs[j] for j in members]), size)
                recons = None
                if recon and output.recon is not None:
                    recons = resize_image(output.recon.detach().float().cpu().clamp(0, 1), size)
                for r, j in enumerate(members):
                    i = idx[j]
                    probs = probs_all[r]
                    raw, labels = instance_labels(m, probs)
                    n = names[i]
                    if soft:
                        write_soft_mask(out / "predictions-soft" / f"{n}.npz", probs.numpy())
                    if raw is not labels:
                        write_label_map(out / "predictions-raw" / f"{n}.png", raw)
                    if recons is not None:
                        write_image(out / "predictions" / f"{n}_recon.png", recons[r].numpy())
                    write_label_map(out / "predictions" / f"{n}.png", labels)  # last: marks the image done
                    if i < overlays:
                        write_image(out / "overlays" / f"{n}.jpg", _overlay_panel(imgs[j], labels, None))
                    rep.frames += 1
                    if progress:
                        progress(rep.frames + rep.skipped, len(names), n)
    rep.sequences = 1
    rep.seconds = time.perf_counter() - t0
    _finish_manifest(out, identity, checkpoint, m.name, images=len(names))
    return rep


def _overlay_panel(image: np.ndarray, components: np.ndarray, fg: np.ndarray | None) -> np.ndarray:
    from spelke.viz.grid import side_by_side
    from spelke.viz.overlay import overlay, overlay_binary

    if fg is None:
        return side_by_side(np.asarray(image), overlay(image, components, background=None))
    return side_by_side(
        overlay(image, components, background=None),
        overlay_binary(image, fg),
    )
