"""Every resumable stage resumes under ``radsynth run``: an interrupted step (its folder holds
part of the output, with the same config, and pipeline.json does not record it as finished)
continues in place and reuses what was finished, instead of being moved aside and redone."""

from __future__ import annotations

import csv
import inspect
import json
import shutil
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest
from fake_runs import make_fake_ingest

from radsynth.config import build_config
from radsynth.pipeline import stages as registry
from radsynth.pipeline.steps import Step, read_state, run_step
from radsynth.stage import atomic_write_text

RESUMABLE_COMMANDS = {
    "train",
    "train-gan",
    "train-autoencoder",
    "sample",
    "fid-sweep",
    "sampler-sweep",
    "ema-sweep",
}


def _leaves(tree: dict, prefix: str = "") -> list[str]:
    out = []
    for name, (_, target) in tree.items():
        path = f"{prefix} {name}".strip()
        out += _leaves(target, path) if isinstance(target, dict) else [path]
    return out


def test_the_resumable_stages_say_so() -> None:
    """A stage that continues a half-written folder declares RESUMABLE on its config: every
    stage with a `resume` field or calling prepare_output_dir(..., resume=True) does."""
    declared = set()
    for command in _leaves(registry.COMMANDS):
        cls, stage = registry.loader(command)()
        source = inspect.getsource(inspect.getmodule(stage))
        resumes = "resume=True" in source or "resume" in {f.name for f in fields(cls)}
        if getattr(cls, "RESUMABLE", False):
            declared.add(command)
        else:
            assert not resumes, f"{command} resumes but its config does not say RESUMABLE"
    assert declared == RESUMABLE_COMMANDS


def _interrupt(run: Path, name: str, out: Path, stage: str) -> None:
    """Make a finished step look interrupted: not recorded in pipeline.json, manifest a stub."""
    state = read_state(run)
    state.pop(name)
    atomic_write_text(run / "pipeline.json", json.dumps({"finished": state}))
    atomic_write_text(out / "manifest.json", json.dumps({"stage": stage, "complete": False}))


def _drop_last_fid_row(out: Path) -> None:
    with open(out / "fid.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    with open(out / "fid.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows[:-1])
    shutil.rmtree(out / "samples" / "step-0000002")


def _drop_last_two_images(out: Path) -> None:
    for png in sorted(out.glob("*.png"))[-2:]:
        png.unlink()
        (out / "meta" / f"{png.stem}.json").unlink()


def _drop_last_row_samples(out: Path) -> None:
    """Killed while sampling the last row: its row is not in sweep.csv, its samples are gone."""
    lines = (out / "sweep.csv").read_text().splitlines()
    (out / "sweep.csv").write_text("\n".join(lines[:-1]) + "\n")
    assert lines[-1].startswith("dpmpp,1,")
    shutil.rmtree(out / "samples" / "dpmpp-0001")


FAST = {"sampler": "ddim", "steps": 1, "device": "cpu", "progress": False}
CASES: dict[str, tuple[str, Callable[[Path], dict], dict, Callable[[Path], None]]] = {
    "fid-sweep": ("fid_sweep", lambda r: {"run": r / "train", "real": r / "data" / "train"},
                  {"every": 1, "n": 4, "feature": "pixels", "sampler": "ddim", "steps": 1,
                   "device": "cpu"}, _drop_last_fid_row),
    "sample": ("sample step-0000002", lambda r: {"ckpt": r / "train" / "checkpoints" /
                                                 "step-0000002"},
               {"n": 5, **FAST}, _drop_last_two_images),
    # sampler-sweep is no step of `radsynth run`, but resumes the same way under run_step.
    "sampler-sweep": ("sampler_sweep", lambda r: {"ckpt": r / "train",
                                                  "real": r / "data" / "train"},
                      {"samplers": ("ddim", "dpmpp"), "steps": (1,), "reference_steps": 2,
                       "n": 3, "feature": "pixels", "device": "cpu", "progress": False},
                      _drop_last_row_samples),
}  # fmt: skip


def _pngs(folder: Path) -> dict[str, int]:
    """Every sampled PNG below ``folder`` (not the plots, which are redrawn at the end) with its
    inode and mtime: a rewritten file changes them."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in folder.rglob("*.png") if "_vs_" not in p.name}  # fmt: skip


@pytest.mark.parametrize("command", sorted(CASES))
def test_interrupted_stage_resumes_under_the_pipeline(command: str, tiny_run: Path) -> None:
    name, wired, user, interrupt = CASES[command]
    run = tiny_run / command
    run.mkdir()
    out = run / "out"
    cls, stage = registry.loader(command)()
    cfg = build_config(cls, user, {**wired(tiny_run), "out": out})
    step = Step(name, stage, cfg, out)
    assert run_step(step, run, {}).status == "ran"
    before = _pngs(out)

    _interrupt(run, step.name, out, _stage_of(out))
    interrupt(out)
    kept = _pngs(out)
    assert 0 < len(kept) < len(before)

    outcome = run_step(step, run, {})
    assert outcome.status == "resumed"
    assert not list(run.glob("out.stale-*")), "the finished part was moved aside"
    after = _pngs(out)
    assert set(after) == set(before)  # the missing part was redone ...
    assert {k: after[k] for k in kept} == kept  # ... and the finished part reused, not redrawn
    assert step.name in read_state(run)


def _stage_of(out: Path) -> str:
    return json.loads((out / "manifest.json").read_text())["stage"]


def test_interrupted_training_resumes_under_the_pipeline(tmp_path: Path) -> None:
    run = tmp_path
    make_fake_ingest(run / "data", n_train=8, n_val=4)
    out = run / "train"
    cls, stage = registry.loader("train")()
    user = {"preset": "tiny", "total_steps": 4, "checkpoint_every_steps": 2}
    step = Step("train", stage, build_config(cls, user, {"data": run / "data", "out": out}), out)
    assert run_step(step, run, {}).status == "ran"
    first = out / "checkpoints" / "step-0000002"
    stamp = {p.name: p.stat().st_mtime_ns for p in first.iterdir()}
    _interrupt(run, "train", out, "train")
    shutil.rmtree(out / "checkpoints" / "step-0000004")  # killed between the two checkpoints

    outcome = run_step(step, run, {})
    assert outcome.status == "resumed"
    assert not list(run.glob("train.stale-*"))
    assert (out / "checkpoints" / "step-0000004").is_dir()
    assert {p.name: p.stat().st_mtime_ns for p in first.iterdir()} == stamp
