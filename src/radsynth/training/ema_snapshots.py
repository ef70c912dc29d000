"""Snapshots of the post-hoc EMA profiles, and the hook that keeps them during training.

A ``--ema posthoc`` run writes ``TRAIN/ema_snapshots/step-NNNNNNN.safetensors`` (see
:mod:`radsynth.layout`) every ``ema_snapshot_every_steps`` steps and at the last step: every
tracked profile's average (:class:`radsynth.training.posthoc_ema.PostHocEMA`), named
``"{profile index}.{parameter name}"``, in float32 or float16, with the step and the tracked
sigma_rels in the file's metadata. Each file is written to a temporary name and renamed into
place, so a crash leaves no half-written snapshot.

Disk cost: (profiles) x (parameters) x (4 bytes in fp32, 2 in fp16) per snapshot; for the
``paper`` preset (36.4M parameters, two profiles) about 291 MB in fp32 or 146 MB in fp16, so
160,000 steps with a snapshot every 8,000 take 20 x 291 MB = 5.8 GB in fp32.

The live averages (always float32) also travel in every checkpoint's ``state.pt`` under
:data:`STATE_KEY`, so ``--resume`` continues them exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.errors import RadsynthError
from radsynth.layout import ema_snapshot_file, ema_snapshot_step, ema_snapshots_root
from radsynth.stage import atomic_path
from radsynth.training.posthoc_ema import PostHocEMA

FORMAT = "radsynth-posthoc-ema-snapshot"
VERSION = 1
META_KEY = "radsynth"  # the safetensors metadata entry holding the snapshot's JSON header
#: The key of the live averages in a checkpoint's state.pt (and in the loop's progress dict).
STATE_KEY = "posthoc_ema"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot file's header: what it holds, without reading the weights."""

    path: Path  # the .safetensors file
    step: int  # optimizer steps done when it was written
    sigma_rels: tuple[float, ...]  # the tracked profiles, in the file's profile order
    precision: str  # "fp32" or "fp16"
    shapes: dict[str, tuple[int, ...]]  # tensor name -> shape


def write_snapshot(path: Path, tracker: PostHocEMA, step: int, precision: str) -> Path:
    """Write every average of ``tracker`` at ``step`` into ``path`` atomically."""
    from safetensors.torch import save_file

    dtype = DTYPES[precision]
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in tracker.state_dict().items()}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "step": step,
        "sigma_rels": list(tracker.sigma_rels),
        "precision": precision,
    }
    # One metadata entry: safetensors writes several in no fixed order, and a resumed run's
    # snapshot should be the very bytes of an uninterrupted run's.
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    return path


def read_snapshot_info(path: Path) -> SnapshotInfo:
    """The header of a snapshot file, checked.

    Raises:
        RadsynthError: missing, unreadable, truncated, or not a radsynth snapshot (one line
            naming the file).
    """
    from safetensors import safe_open

    if not Path(path).is_file():
        raise RadsynthError(f"post-hoc EMA snapshot missing: {path}")
    try:
        with safe_open(str(path), "pt") as fh:
            meta = json.loads((fh.metadata() or {}).get(META_KEY, "{}"))
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError("not a radsynth post-hoc EMA snapshot")
        sigma_rels = tuple(float(s) for s in meta["sigma_rels"])
        info = SnapshotInfo(Path(path), int(meta["step"]), sigma_rels, meta["precision"], shapes)
    except Exception as exc:  # safetensors, json and int raise several types for a bad file
        raise RadsynthError(
            f"corrupt post-hoc EMA snapshot {path}: {exc}".splitlines()[0]
        ) from None
    if info.precision not in DTYPES or ema_snapshot_step(path) != info.step:
        raise RadsynthError(f"corrupt post-hoc EMA snapshot {path}: its step or precision is off")
    return info


def load_average(info: SnapshotInfo, index: int) -> dict[str, torch.Tensor]:
    """The float32 average of profile ``index`` of a snapshot, by parameter name.

    Raises:
        RadsynthError: the file cannot be read or holds a non-finite value (one line).
    """
    from safetensors import safe_open

    prefix = f"{index}."
    try:
        with safe_open(str(info.path), "pt") as fh:
            out = {
                k[len(prefix) :]: fh.get_tensor(k).float()
                for k in info.shapes
                if k.startswith(prefix)
            }
    except Exception as exc:
        raise RadsynthError(
            f"corrupt post-hoc EMA snapshot {info.path}: {exc}".splitlines()[0]
        ) from None
    if not all(torch.isfinite(t).all() for t in out.values()):
        raise RadsynthError(f"corrupt post-hoc EMA snapshot {info.path}: non-finite weights")
    return out


def list_snapshots(train_dir: Path) -> dict[int, Path]:
    """The snapshot files of a run by step (temporary files of an interrupted write ignored)."""
    root = ema_snapshots_root(train_dir)
    if not root.is_dir():
        return {}
    found = {ema_snapshot_step(p): p for p in root.iterdir() if p.is_file()}
    return {s: p for s, p in sorted(found.items(), key=lambda kv: kv[0] or 0) if s is not None}


@dataclass
class PostHocHook:
    """What the training loop calls once per step under ``--ema posthoc``: update the
    averages, and on snapshot steps write them (main process only)."""

    tracker: PostHocEMA
    train_dir: Path  # the run folder; snapshots go to its ema_snapshots/
    every_steps: int  # snapshot cadence in optimizer steps
    last_step: int  # the run's total_steps: always snapshotted
    precision: str  # "fp32" or "fp16"
    is_main: bool  # whether this process writes files

    def after_step(self, model: torch.nn.Module, step: int) -> None:
        """Fold the weights after optimizer step ``step`` into the averages; snapshot them
        when ``step`` is a multiple of the cadence or the last step."""
        self.tracker.update(model, step)
        if self.is_main and (step % self.every_steps == 0 or step == self.last_step):
            write_snapshot(
                ema_snapshot_file(self.train_dir, step), self.tracker, step, self.precision
            )


def attach(
    cfg: Any, model: torch.nn.Module, progress: dict[str, Any], is_main: bool
) -> PostHocHook | None:
    """The post-hoc EMA hook of a training run, or None under the classic EMA.

    On a resumed run (``progress["step"] > 0``) the averages are loaded from the checkpoint's
    state (``progress[STATE_KEY]``). Then ``progress[STATE_KEY]`` holds the live averages, so
    every checkpoint's state.pt carries them.

    Args:
        cfg: the :class:`radsynth.training.config.TrainConfig`.
        model: the online network (unwrapped).
        progress: the loop's step, data position and history (and the saved averages).
        is_main: whether this process writes the snapshots.

    Raises:
        RadsynthError: a resumed checkpoint without post-hoc EMA state, or one that does not fit.
    """
    if cfg.ema != "posthoc":
        return None
    tracker = PostHocEMA(model, cfg.ema_sigma_rel)
    if progress["step"] > 0:
        try:
            tracker.load_state_dict(progress[STATE_KEY])
        except (KeyError, RuntimeError):
            raise RadsynthError(
                "cannot resume --ema posthoc: the checkpoint holds no matching post-hoc EMA state"
            ) from None
    progress[STATE_KEY] = tracker.state_dict()
    return PostHocHook(
        tracker,
        Path(cfg.out),
        cfg.ema_snapshot_every_steps,
        cfg.total_steps,
        cfg.ema_snapshot_precision,
        is_main,
    )
