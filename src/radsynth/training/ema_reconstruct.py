"""Reconstruct post-hoc EMA weights of any length from a ``--ema posthoc`` run's snapshots.

:func:`plan` checks the run and reads every snapshot header it needs (nothing is written and no
weights are read yet); :func:`reconstruct` then reads each snapshot once and returns, for every
(checkpoint step, sigma_rel), the weights sum_i x_i theta_hat_i of the least-squares fit of
:func:`radsynth.training.posthoc_ema.solve_coefficients` (EDM2, Appendix C.2).

An EMA ending at step t uses only snapshots taken at or before t (later ones hold later
weights), so a target step must itself have a snapshot: a multiple of the run's
``ema_snapshot_every_steps``, or its last step. Reconstruction accumulates in float64, since the
least-squares coefficients may have mixed signs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.errors import RadsynthError
from radsynth.layout import checkpoint_step, ema_snapshot_file
from radsynth.training.checkpoint import WEIGHT_FILES, list_checkpoints, read_checkpoint_config
from radsynth.training.ema_snapshots import (
    SnapshotInfo,
    list_snapshots,
    load_average,
    read_snapshot_info,
)
from radsynth.training.posthoc_ema import (
    SIGMA_REL_MAX,
    Fit,
    Profile,
    gamma_of_sigma_rel,
    solve_coefficients,
)


@dataclass(frozen=True)
class Target:
    """One EMA to reconstruct, and how."""

    step: int  # the checkpoint step the average ends at
    sigma_rel: float  # its relative standard deviation
    gamma: float  # the matching power-function exponent
    checkpoint: Path  # the run's checkpoint folder at that step (online weights, config)
    sources: tuple[tuple[SnapshotInfo, int], ...]  # (snapshot, profile index) per coefficient
    fit: Fit  # the least-squares coefficients of the sources


@dataclass(frozen=True)
class Plan:
    """Every target of one sweep, checked against the run's files."""

    train_dir: Path  # the training run folder
    targets: tuple[Target, ...]  # by step, then sigma_rel
    checkpoints: dict[int, Path]  # each target step's checkpoint folder
    snapshots: tuple[SnapshotInfo, ...]  # every snapshot any target reads, by step


def posthoc_settings(train_dir: Path) -> tuple[dict[int, Path], dict[str, Any]]:
    """The run's checkpoints by step and its latest training config.

    Raises:
        RadsynthError: no checkpoint, or a run trained without ``--ema posthoc`` (one line).
    """
    found = list_checkpoints(train_dir)
    if not found:
        raise RadsynthError(f"no checkpoints found in {train_dir} (expected checkpoints/step-*/)")
    train = read_checkpoint_config(found[-1]).get("train", {})
    if train.get("ema") != "posthoc":
        raise RadsynthError(
            f"{train_dir} was trained without --ema posthoc, so it has no EMA profiles to "
            "reconstruct from; train with `radsynth train ... --ema posthoc`"
        )
    return {int(checkpoint_step(p.name) or 0): p for p in found}, train


def _snapshots_up_to(train_dir: Path, step: int, every: int) -> list[SnapshotInfo]:
    """The headers of every snapshot at or before ``step``, each cadence step required."""
    have = list_snapshots(train_dir)
    if step not in have and step % every:
        raise RadsynthError(
            f"step {step} has no post-hoc EMA snapshot (written every {every} steps and at the "
            f"last step); steps with one: {', '.join(map(str, sorted(have))) or 'none'}"
        )
    for s in range(every, step + 1, every):
        if s not in have:
            raise RadsynthError(f"post-hoc EMA snapshot missing: {ema_snapshot_file(train_dir, s)}")
    return [read_snapshot_info(have[s]) for s in sorted(have) if s <= step]


def _check_snapshot(info: SnapshotInfo, sigma_rels: tuple[float, ...], shapes: dict) -> None:
    if info.sigma_rels != sigma_rels:
        raise RadsynthError(
            f"corrupt post-hoc EMA snapshot {info.path}: profiles {list(info.sigma_rels)}, "
            f"the run tracks {list(sigma_rels)}"
        )
    # Every profile averages the same parameters, each a tensor of the model's (whose buffers
    # are not averaged, so they may be absent).
    names = {k.partition(".")[2] for k in info.shapes}
    want = {f"{i}.{k}": shapes.get(k) for i in range(len(sigma_rels)) for k in names}
    if not names or info.shapes != want:
        raise RadsynthError(
            f"corrupt post-hoc EMA snapshot {info.path}: tensors do not fit the model"
        )


def _parameter_shapes(checkpoint: Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of the EMA weights in a checkpoint (what a snapshot must hold per profile)."""
    from safetensors import safe_open

    file = checkpoint / WEIGHT_FILES["ema"]
    try:
        with safe_open(str(file), "pt") as fh:
            return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118
    except Exception as exc:
        raise RadsynthError(
            f"corrupt or mismatched weights {file}: {exc}".splitlines()[0]
        ) from None


def plan(train_dir: Path, steps: tuple[int, ...], sigma_rels: tuple[float, ...]) -> Plan:
    """Check the run and the snapshots every target needs, and fit each target's coefficients.

    Args:
        train_dir: a ``radsynth train --ema posthoc`` run folder.
        steps: checkpoint steps to reconstruct at; empty: the latest checkpoint.
        sigma_rels: EMA lengths to reconstruct.

    Raises:
        RadsynthError: no ``--ema posthoc`` run, a step without checkpoint or snapshot, a
            missing or corrupt snapshot, or a sigma_rel out of range (one line each).
    """
    if not sigma_rels or not all(0.0 < s <= SIGMA_REL_MAX for s in sigma_rels):
        raise RadsynthError(
            f"--sigma-rel needs values in (0, {SIGMA_REL_MAX:.4f}], got {list(sigma_rels)}"
        )
    checkpoints, train = posthoc_settings(train_dir)
    steps = tuple(sorted(set(steps))) or (max(checkpoints),)
    if absent := [s for s in steps if s not in checkpoints]:
        raise RadsynthError(
            f"no checkpoint at step(s) {', '.join(map(str, absent))} in {train_dir}; "
            f"checkpoints: {', '.join(map(str, sorted(checkpoints)))}"
        )
    tracked = tuple(float(s) for s in train["ema_sigma_rel"])
    gammas = [gamma_of_sigma_rel(s) for s in tracked]
    targets, used = [], {}
    for step in steps:
        shapes = _parameter_shapes(checkpoints[step])
        infos = _snapshots_up_to(train_dir, step, int(train["ema_snapshot_every_steps"]))
        for info in infos:
            _check_snapshot(info, tracked, shapes)
            used[info.step] = info
        sources = tuple((info, i) for info in infos for i in range(len(tracked)))
        profiles = [Profile(info.step, gammas[i]) for info, i in sources]
        for sigma_rel in sorted(set(sigma_rels)):
            gamma = gamma_of_sigma_rel(sigma_rel)
            fit = solve_coefficients(profiles, Profile(step, gamma))
            targets.append(Target(step, sigma_rel, gamma, checkpoints[step], sources, fit))
    chosen = {s: checkpoints[s] for s in steps}
    return Plan(Path(train_dir), tuple(targets), chosen, tuple(used[s] for s in sorted(used)))


def reconstruct(plan: Plan) -> list[dict[str, torch.Tensor]]:
    """The float32 EMA weights of every target of ``plan``, in its order (parameters by name).

    Reads each snapshot's profiles once, adding x_i * theta_hat_i into every target that uses
    it. Holds one float64 copy of the parameters per target.

    Raises:
        RadsynthError: a snapshot whose weights cannot be read or are not finite (one line).
    """
    sums: list[dict[str, torch.Tensor]] = [{} for _ in plan.targets]
    for info in plan.snapshots:
        for index in range(len(info.sigma_rels)):
            average = load_average(info, index)
            for target, acc in zip(plan.targets, sums, strict=True):
                for (source, i), x in zip(target.sources, target.fit.coefficients, strict=True):
                    if source.step == info.step and i == index:
                        for name, value in average.items():
                            term = x * value.double()
                            acc[name] = acc[name] + term if name in acc else term
    return [{k: v.float() for k, v in acc.items()} for acc in sums]
