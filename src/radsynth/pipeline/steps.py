"""Running one pipeline step with caching: skip it when its config and inputs are unchanged.

Each step's key is the sha256 of its resolved config together with the keys of the steps it
reads from and the content digests of its input folders from outside the run (the ``source:``
radiographs, :mod:`radsynth.pipeline.inputs`), so a change anywhere upstream re-runs everything
below it. Keys of finished steps are kept in ``RUN/pipeline.json``. A step whose folder exists
but is not recorded as finished was interrupted: a resumable stage (its config class sets
``RESUMABLE``: train, sample, fid-sweep, sampler-sweep) continues in place; a stage that swaps
its output in whole (``ATOMIC``: keep) simply runs again; any other stage's partial folder is
moved aside to ``<name>.stale-N`` (never deleted) and the stage runs again.

``pipeline.json`` is ``{"format": 2, "finished": {step: key}}``. Folders written before the
format number existed (``{"finished": ...}`` alone) read the same way: their keys were computed
the same way, so their unchanged steps stay cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radsynth.config import config_json
from radsynth.errors import RadsynthError
from radsynth.io import read_json
from radsynth.layout import RunLayout, generator_name_problem, parse_set_name
from radsynth.pipeline import stages
from radsynth.pipeline.history import earlier_config_json, last_release_config_json
from radsynth.pipeline.inputs import folder_digest
from radsynth.stage import StageResult, atomic_write_text, move_aside, sha256_file

log = logging.getLogger(__name__)

#: pipeline.json's format: 2 added the number itself; 1 (no number) reads the same way.
STATE_FORMAT = 2


def is_pipeline_step(name: str) -> bool:
    """Whether ``name`` is a step of ``radsynth run`` (a row of
    :data:`radsynth.pipeline.stages.PIPELINE`, with its generator or its set when it has one)."""
    if name in stages.step_names():
        return True
    verb, _, rest = name.partition(" ")
    if verb not in stages.step_names():
        return False
    scope = stages.scope_of(verb)
    if scope == "generator":
        return generator_name_problem(rest) is None
    return scope == "set" and parse_set_name(rest) is not None


@dataclass(frozen=True)
class Step:
    """One stage call inside a run."""

    name: str  # label in the summary and in pipeline.json, e.g. "sample step-0034000"
    stage: Callable[[Any], Any]  # the stage function, called with cfg
    cfg: Any  # the stage's frozen config dataclass, input and output paths filled in
    out: Path  # the step's output folder (or file, for the report)
    after: Sequence[str] = ()  # names of the steps whose outputs this one reads
    always: bool = False  # never cached (its input changes outside the pipeline, e.g. answers)
    inputs: Sequence[Path] = ()  # folders (images) or files from outside the run, in the key
    legacy_key: str | None = None  # the key a format-1 run folder recorded for this step
    aside: Path | None = None  # where an earlier output goes; None: beside it (NAME.stale-N)

    def __post_init__(self) -> None:
        # A misspelt dependency would silently drop out of the cache key: refuse it here.
        unknown = [a for a in self.after if not is_pipeline_step(a)]
        if unknown:
            raise ValueError(
                f"step {self.name!r} reads from {', '.join(map(repr, unknown))}, which is no "
                f"pipeline step; steps: {', '.join(sorted(stages.step_names()))}, "
                "sample step-NNNNNNN"
            )


@dataclass(frozen=True)
class StepOutcome:
    """What happened to a step: ran, cached or resumed, and its summary line."""

    name: str
    status: str  # "ran" | "cached" | "resumed"
    summary: str
    out: Path


def read_state(run_dir: Path) -> dict[str, str]:
    """Keys of the finished steps of a run (empty for a new run)."""
    return _read_state(run_dir)[1]


def state_format(run_dir: Path) -> int:
    """The format of a run folder's pipeline.json (:data:`STATE_FORMAT` for a new run)."""
    return _read_state(run_dir)[0]


def _read_state(run_dir: Path) -> tuple[int, dict[str, str]]:
    path = RunLayout(run_dir).state
    if not path.is_file():
        return STATE_FORMAT, {}
    try:
        state = read_json(path, "pipeline state")
        version = state.get("format", 1)
        finished = dict(state.get("finished", {}))
    except (RadsynthError, AttributeError, TypeError, ValueError):
        return STATE_FORMAT, {}  # a damaged state file only costs re-running steps
    if not isinstance(version, int) or version > STATE_FORMAT:
        raise RadsynthError(
            f"{path} has format {version!r}, newer than this radsynth reads ({STATE_FORMAT}): "
            "upgrade radsynth, or delete pipeline.json to re-run every stage"
        )
    return version, finished


def _write_state(run_dir: Path, finished: dict[str, str]) -> None:
    # A format-1 folder stays format 1: it may still hold legacy keys (Step.legacy_key).
    version = state_format(run_dir)
    state = {"finished": finished} if version == 1 else {"format": version, "finished": finished}
    atomic_write_text(RunLayout(run_dir).state, json.dumps(state, indent=2, sort_keys=True) + "\n")


def input_digest(path: Path, run_dir: Path) -> str:
    """Digest of an input from outside the pipeline: a folder of images (its files' contents,
    :func:`radsynth.pipeline.inputs.folder_digest`), a file's sha256, or "absent"."""
    if path.is_dir():
        return folder_digest(path, RunLayout(run_dir).hash_cache)
    return sha256_file(path) if path.is_file() else "absent"


def step_key(cfg: Any, upstream_keys: Sequence[str]) -> str:
    """sha256 of a resolved config (or any plain value) and its upstream keys."""
    text = config_json(cfg) if dataclasses.is_dataclass(cfg) else json.dumps(cfg)
    return _text_key(text, upstream_keys)


def _text_key(text: str, upstream_keys: Sequence[str]) -> str:
    digest = hashlib.sha256(text.encode())
    for key in upstream_keys:
        digest.update(key.encode())
    return digest.hexdigest()


def earlier_key(cfg: Any, upstream_keys: Sequence[str]) -> str | None:
    """The key the release before the last recorded for this config, when its config JSON
    differed (:mod:`radsynth.pipeline.history`); None when it is the same as today's."""
    text = earlier_config_json(cfg)
    return None if text is None else _text_key(text, upstream_keys)


def earlier_keys(cfg: Any, upstream_keys: Sequence[str]) -> list[str]:
    """The keys the last release and the one before it recorded for this config, where their
    config JSON differed from today's."""
    texts = (last_release_config_json(cfg), earlier_config_json(cfg))
    return [_text_key(t, upstream_keys) for t in texts if t is not None]


def upstream_keys(step: Step, keys: dict[str, str], absent: Collection[str] = ()) -> list[str]:
    """The keys of the steps ``step`` reads from, in its ``after`` order.

    Args:
        step: the step.
        keys: keys of the steps run (or found cached) so far in this invocation.
        absent: pipeline steps that this run legitimately leaves out (``phantoms`` when the
            pipeline file names a ``source:``); a dependency on one of them adds nothing.

    Raises:
        RadsynthError: when a dependency has not run yet and is not declared absent: leaving it
            out would let a change upstream go unnoticed.
    """
    missing = [a for a in step.after if a not in keys and a not in absent]
    if missing:
        raise RadsynthError(
            f"pipeline step {step.name!r} reads from {', '.join(missing)}, which has not run "
            "before it in this run; its cache key would miss that input"
        )
    return [keys[a] for a in step.after if a in keys]


def run_step(
    step: Step, run_dir: Path, keys: dict[str, str], absent: Collection[str] = ()
) -> StepOutcome:
    """Run one step unless it is cached; record its key in ``keys`` and ``pipeline.json``.

    Args:
        step: the step.
        run_dir: the run folder, which holds ``pipeline.json``.
        keys: keys of the steps run so far in this invocation (updated in place).
        absent: pipeline steps this run leaves out (see :func:`upstream_keys`).
    """
    upstream = upstream_keys(step, keys, absent)
    upstream += [input_digest(p, run_dir) for p in step.inputs]
    cfg, stage = step.cfg, step.stage
    cls = type(cfg)
    key = step_key(cfg, upstream)
    finished = read_state(run_dir)
    keys[step.name] = key
    if step.always:
        result = stage(cfg)
        # Steps below it re-run only when what it wrote changed.
        if step.out.is_file():
            key = step_key(cfg, [key, sha256_file(step.out)])
        keys[step.name] = key
        summary = result.summary if isinstance(result, StageResult) else "done"
        return StepOutcome(step.name, "ran", summary, step.out)
    if finished.get(step.name) == key and step.out.exists():
        return StepOutcome(step.name, "cached", "unchanged, skipped", step.out)
    legacy = step.legacy_key
    if legacy is None and finished.get(step.name) is not None:
        # Recorded by the last release or the one before, if one matches.
        found = [k for k in earlier_keys(cfg, upstream) if k == finished[step.name]]
        legacy = found[0] if found else None
    if legacy is not None and finished.get(step.name, legacy) == legacy and step.out.exists():
        # A folder from before format 2 (which kept the keep keys in memory only, and keyed
        # some configs without fields added since), unchanged: the steps below recorded keys
        # built on this one, so it stays in use here (until an input changes and it runs again).
        keys[step.name] = legacy
        return StepOutcome(step.name, "cached", "unchanged, skipped", step.out)
    status = "ran"
    if step.out.exists():
        # The stage's config says whether the stage continues a half-written folder (RESUMABLE).
        resumable = getattr(cls, "RESUMABLE", False)
        if resumable and finished.get(step.name) is None and _same_config(step.out, cfg):
            status = "resumed"
            if "resume" in {f.name for f in dataclasses.fields(cfg)}:
                cfg = dataclasses.replace(cfg, resume=True)
        elif not getattr(cls, "ATOMIC", False):
            stale = move_aside(step.out, step.aside)
            log.warning("%s: earlier output moved aside to %s", step.name, stale)
    result = stage(cfg)
    finished = read_state(run_dir)
    finished[step.name] = key
    _write_state(run_dir, finished)
    summary = result.summary if isinstance(result, StageResult) else "done"
    return StepOutcome(step.name, status, summary, step.out)


def _same_config(out: Path, cfg: Any) -> bool:
    """True when a folder was written by a run of exactly this config (ignoring ``resume``)."""
    path = out / "config.json"
    if not path.is_file():
        return False
    try:
        previous = read_json(path, "stage config")
    except RadsynthError:
        return False
    current = json.loads(config_json(cfg))
    previous.pop("resume", None)
    current.pop("resume", None)
    return previous == current
