"""The training engine on Lightning: one loop for every trained method.

``train(method, dataset, run_dir)`` runs the method's optimiser (AdamW by default) with its schedule,
gradient clipping, optional EMA weights, CSV and TensorBoard logs, pictures the method makes (sample
decompositions), a resumable ``checkpoints/last.ckpt`` (with the spelke header and the method's
non-gradient state) and, at the end, the inference weights ``checkpoints/final.pt``.
Iteration-based like the papers: ``max_steps`` batches drawn with replacement from the frames.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spelke import __version__
from spelke.data.io import write_json
from spelke.engine.checkpoint import check_header, make_header, save_weights
from spelke.engine.data import collate
from spelke.engine.ema import EMA
from spelke.engine.method import TrainableMethod, make_optimizer
from spelke.engine.types import Batch
from spelke.errors import ConfigError, FileFormatError, MissingDependencyError


def _lightning():
    try:
        import lightning as L
    except ImportError:  # pragma: no cover - the torch extra installs it
        raise MissingDependencyError(
            "training needs the Python module 'lightning'; install it with: pip install 'spelke[torch]'"
        ) from None
    return L


def _quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LightningModule.*has parameters that were not used.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*tensorboardX.*")
    warnings.filterwarnings(
        "ignore", message=".*module\\(s\\) in eval mode.*"
    )  # the EMA copy is in eval mode
    warnings.filterwarnings("ignore", message=".*dataloader is not resumable.*")
    warnings.filterwarnings("ignore", message=".*callbacks used to create the checkpoint.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")


def make_module(method: TrainableMethod, model: nn.Module):
    """The LightningModule wrapping ``method`` and its ``model``."""
    L = _lightning()
    settings = method.optim_settings()

    class EngineModule(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.ema = EMA(model, settings.ema) if settings.ema is not None else None
            self.method = method
            self._t0 = time.perf_counter()
            self.run_dir: Path | None = None  # set by train(): where pictures go

        def forward(self, images: torch.Tensor):
            return self.method.forward(self.model, images)

        def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
            losses = self.method.training_loss(self.model, batch, int(self.global_step))
            if "loss" not in losses:
                raise ConfigError(f"method {self.method.name} returned no 'loss' term: {list(losses)}")
            logged = {f"train/{k}": v.detach().float() for k, v in losses.items() if torch.is_tensor(v)}
            logged["train/lr"] = torch.tensor(self.optimizers().param_groups[0]["lr"])
            self.log_dict(logged, batch_size=batch.size, on_step=True, prog_bar=False)
            self.log("loss", losses["loss"].detach(), batch_size=batch.size, prog_bar=True, logger=False)
            self._save_pictures(self.method.pictures(self.model, batch, int(self.global_step)))
            return losses["loss"]

        def _save_pictures(self, pictures: dict[str, Any]) -> None:
            if not pictures or self.run_dir is None:
                return
            from spelke.data.io import write_image

            step = int(self.global_step)
            for name, img in pictures.items():
                write_image(self.run_dir / name / f"step_{step:06d}.png", img)
                for lg in self.loggers:
                    exp = getattr(lg, "experiment", None)
                    if hasattr(exp, "add_image"):
                        exp.add_image(name, np.asarray(img), step, dataformats="HWC")

        def configure_optimizers(self):
            base = settings.lr(0) if settings.lr(0) > 0 else 1.0
            opt = make_optimizer(self.model, settings, base)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: settings.lr(s) / base)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

        def on_train_start(self) -> None:
            # after a resume the optimiser holds the rate of the step it stopped at under the old
            # schedule; set the rate of this step under the current one (e.g. a longer max_steps)
            for g in self.optimizers().optimizer.param_groups:
                g["lr"] = settings.lr(int(self.global_step))

        def transfer_batch_to_device(self, batch: Batch, device: torch.device, dataloader_idx: int) -> Batch:
            return batch.to(device)

        def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            checkpoint["spelke"] = make_header(method.name, method.model_name, method.config_dict())
            checkpoint["spelke"]["identity"] = getattr(self, "identity", None)
            checkpoint["method_state"] = method.state_dict()

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            header = checkpoint.get("spelke")
            if header is None:
                raise ConfigError("cannot resume: the checkpoint has no spelke header")
            check_header(header, method=method.name, model=method.model_name, path="checkpoints/last.ckpt")
            method.load_state_dict(checkpoint.get("method_state", {}))

    return EngineModule()


def _ema_callback_class():
    from lightning.pytorch.callbacks import Callback

    class EMACallback(Callback):
        """Update the EMA weights after each optimiser step, before any checkpoint of that step."""

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if pl_module.ema is not None:
                pl_module.ema.update(pl_module.model, int(trainer.global_step))

    return EMACallback


def _EMACallback():
    return _ema_callback_class()()


@dataclass
class TrainResult:
    """What a training run produced."""

    run_dir: Path
    weights: Path
    steps: int
    seconds: float
    final_losses: dict[str, float] = field(default_factory=dict)


def _loader(method: TrainableMethod, frames: Any, seed: int, steps: int, num_workers: int):
    s = method.optim_settings()
    g = torch.Generator().manual_seed(seed)
    sampler = torch.utils.data.RandomSampler(
        frames, replacement=True, num_samples=steps * s.batch_size, generator=g
    )

    def reseed(worker: int) -> None:  # each worker draws its own gaps, flips and track subsets
        ds = torch.utils.data.get_worker_info().dataset
        if hasattr(ds, "rng"):
            ds.rng = np.random.default_rng([seed, worker, torch.initial_seed() % 2**32])

    return torch.utils.data.DataLoader(
        frames,
        batch_size=s.batch_size,
        sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        drop_last=True,
        worker_init_fn=reseed if num_workers > 0 else None,
    )


def train(
    method: TrainableMethod,
    dataset: Any,
    run_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    sequences: list[str] | None = None,
    resume: bool = True,
    progress: bool = True,
    num_workers: int = 0,
    log_every: int = 10,
    checkpoint_every: int = 200,
    accelerator: str = "auto",
    inputs: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``method`` on ``dataset`` into ``run_dir`` (resumes from ``checkpoints/last.ckpt``).

    Args:
        method: the configured method.
        dataset: a registered dataset (sequences, or images for image methods such as the ClevrTex zoo).
        run_dir: ``runs/<method>/<name>``: config.yaml, manifest.json, logs/, checkpoints/.
        seed: seeds weights, data order, gap and flip draws.
        sequences: train on these sequences only.
        resume: continue from ``checkpoints/last.ckpt`` when it exists (else start afresh, overwriting).
        progress: show a progress bar.
        num_workers: data-loading processes.
        log_every: log every this many steps.
        checkpoint_every: write ``last.ckpt`` every this many steps.
        accelerator: Lightning accelerator (``auto``, ``cpu``, ``gpu``).
        inputs: what the data was (dataset name, root, split, signals), for the manifest.
    """
    L = _lightning()
    _quiet_lightning()
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    run = Path(run_dir)
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    settings = method.optim_settings()
    L.seed_everything(seed, workers=True, verbose=False)
    torch.manual_seed(seed)
    frames = method.make_dataset(dataset, seed=seed, sequences=sequences)
    model = method.build_model()
    module = make_module(method, model)

    config = method.config_dict()
    identity = {"seed": seed, "inputs": inputs or {}, "sequences": sequences, "signals": _signals(frames)}
    last = run / "checkpoints" / "last.ckpt"
    ckpt_path = str(last) if resume and last.is_file() else None
    if ckpt_path:
        _check_resume(last, method, identity)
    elif not resume:
        for old in [last, *(run / "logs").glob("csv*")]:
            if old.is_file():
                old.unlink()
            elif old.is_dir():
                import shutil

                shutil.rmtree(old)
    module.identity = identity
    module.run_dir = run
    _write_config(run, method.name, config, seed)
    manifest = {
        "method": method.name,
        "model": method.model_name,
        "seed": seed,
        "config": config,
        "inputs": inputs or {},
        "frames": len(frames),
        "spelke_version": __version__,
        "torch_version": torch.__version__,
    }
    write_json(run / "manifest.json", manifest)

    # a resumed run logs to a new CSV folder (csv, csv-1, ...): Lightning would overwrite the old one
    n_csv = len(list((run / "logs").glob("csv*"))) if ckpt_path else 0
    loggers = [
        CSVLogger(str(run), name="logs", version="csv" if n_csv == 0 else f"csv-{n_csv}"),
        TensorBoardLogger(str(run), name="logs", version="tensorboard", default_hp_metric=False),
    ]
    ckpt = ModelCheckpoint(
        dirpath=str(run / "checkpoints"),
        filename="step{step}",
        save_last=True,
        save_top_k=0,
        every_n_train_steps=max(1, checkpoint_every),
    )
    trainer = L.Trainer(
        max_steps=settings.max_steps,
        max_epochs=-1,
        accelerator=accelerator,
        devices=1,
        logger=loggers,
        callbacks=[_EMACallback(), ckpt],  # EMA first: a checkpoint saved at this step holds its update
        gradient_clip_val=settings.grad_clip,
        gradient_clip_algorithm="norm",
        log_every_n_steps=max(1, log_every),
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=False,
        default_root_dir=str(run),
    )
    t0 = time.perf_counter()
    trainer.fit(module, _loader(method, frames, seed, settings.max_steps, num_workers), ckpt_path=ckpt_path)
    seconds = time.perf_counter() - t0
    trainer.save_checkpoint(str(last))  # the final state, also when max_steps is not a multiple
    final_model = module.ema.shadow if module.ema is not None else module.model
    header = make_header(method.name, method.model_name, config)
    header["steps"] = int(trainer.global_step)
    header["seed"] = seed
    weights = save_weights(run / "checkpoints" / "final.pt", header, final_model.state_dict())
    losses = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
    manifest.update(
        {"steps": int(trainer.global_step), "train_seconds": round(seconds, 2), "final_losses": losses}
    )
    write_json(run / "manifest.json", manifest)
    return TrainResult(run, weights, int(trainer.global_step), seconds, losses)


def _signals(frames: Any) -> dict[str, Any]:
    """The motion signals a dataset of frames reads (flow backend, track cache), for resume checks."""
    tracks = getattr(frames, "tracks", None)
    return {"flow": getattr(frames, "flow_backend", None), "tracks": list(tracks) if tracks else None}


#: Fields that only say what a run logs (sample pictures); they never change what is learnt.
LOGGING_FIELDS = ("sample_every", "sample_images")

#: Fields that may change when a run is resumed (they do not change what is learnt so far).
RESUMABLE_FIELDS = (
    "max_steps",
    "pretrained",
    "tta_steps",
    "merge_features",
    "merge_weights",
    "foreground",
    *LOGGING_FIELDS,
)


def _check_resume(last: Path, method: TrainableMethod, identity: dict[str, Any]) -> None:
    try:
        obj = torch.load(last, map_location="cpu", weights_only=True)
    except Exception as e:
        raise FileFormatError(
            f"cannot resume from {last}: {e}; start over with --no-resume or pick another --out"
        ) from None
    header = obj.get("spelke") if isinstance(obj, dict) else None
    if header is None:
        raise ConfigError(
            f"cannot resume from {last}: it has no spelke header; delete it or pick another --out"
        )
    check_header(header, method=method.name, model=method.model_name, path=last)
    old_id = header.get("identity")
    if old_id is not None and _jsonish(old_id) != _jsonish(identity):
        keys = [k for k in identity if _jsonish(old_id.get(k)) != _jsonish(identity[k])]
        raise ConfigError(
            f"cannot resume {last}: it was trained with other {', '.join(keys)} "
            f"({'; '.join(f'{k}: {old_id.get(k)!r} -> {identity[k]!r}' for k in keys[:2])}); "
            "use another --out, or --no-resume to start over there"
        )
    old, new = header.get("config", {}), method.config_dict()
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in RESUMABLE_FIELDS)
    if diff:
        raise ConfigError(
            f"cannot resume {last}: its config differs in {', '.join(diff)} "
            f"({', '.join(f'{k}={old.get(k)!r} -> {new.get(k)!r}' for k in diff[:3])}); "
            "use a new run directory or --no-resume to start over"
        )


def _jsonish(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


def _write_config(run: Path, method: str, config: dict[str, Any], seed: int) -> None:
    import yaml

    from spelke.data.io import atomic_write

    with atomic_write(run / "config.yaml", "w") as f:
        yaml.safe_dump({"method": method, "seed": seed, **config}, f, sort_keys=False)


def summarise_seeds(results: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and (sample) standard deviation of each metric over seeds: ``{metric: {mean, std, n}}``."""
    keys = sorted({k for r in results for k, v in r.items() if isinstance(v, int | float)})
    out: dict[str, dict[str, float]] = {}
    for k in keys:
        vals = np.array([r[k] for r in results if isinstance(r.get(k), int | float) and not math.isnan(r[k])])
        out[k] = {
            "mean": float(vals.mean()) if len(vals) else float("nan"),
            "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
            "n": len(vals),
        }
    return out


def test_time_adapt(
    method: TrainableMethod,
    model: nn.Module,
    frames: Any,
    *,
    steps: int = 20,
    seed: int = 0,
    lr: float | None = None,
    train_norm: bool = False,
) -> nn.Module:
    """GWM App. C.3.1: a copy of ``model`` after ``steps`` steps of the method's own loss on ``frames``.

    Same optimiser and batch size as training; the learning rate is ``lr`` or, when None, the training
    schedule's peak (the thesis: "the same settings"). Batch-norm layers stay in evaluation mode, their
    running statistics frozen (``train_norm=True`` updates them from the clip's batches; docs/fidelity.md). ``frames`` holds one evaluation sequence's frames
    and flows (``method.make_dataset(..., sequences=[seq])``).
    """
    import copy

    s = method.optim_settings()
    adapted = copy.deepcopy(model).train()
    if not train_norm:
        for mod in adapted.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.eval()
    peak = max(s.lr(k) for k in range(0, max(s.max_steps, 1), max(1, s.max_steps // 100)))
    opt = make_optimizer(adapted, s, peak if lr is None else float(lr))
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(len(frames), (min(s.batch_size, len(frames)),), generator=g).tolist()
        batch = collate([frames[i] for i in idx]).to(next(adapted.parameters()).device)
        loss = method.training_loss(adapted, batch, s.max_steps + step)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if s.grad_clip:
            torch.nn.utils.clip_grad_norm_(adapted.parameters(), s.grad_clip)
        opt.step()
    return adapted.eval()


def read_metrics_csv(run_dir: str | os.PathLike[str]) -> list[dict[str, float]]:
    """The logged training curve (rows of ``logs/csv*/metrics.csv``, resumed parts in order) as dicts."""
    import csv

    logs = Path(run_dir) / "logs"
    parts = sorted(logs.glob("csv*/metrics.csv"), key=lambda p: (len(p.parent.name), p.parent.name))
    rows = []
    for p in parts:  # csv, then csv-1, csv-2 ... of resumed runs
        with p.open() as f:
            for r in csv.DictReader(f):
                rows.append({k: float(v) for k, v in r.items() if v not in ("", None)})
    return rows


__all__ = ["TrainResult", "make_module", "read_metrics_csv", "summarise_seeds", "test_time_adapt", "train"]
