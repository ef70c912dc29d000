"""Running one pipeline step with caching: skip it when its config and inputs are unchanged.

Each step's key is the sha256 of its resolved config together with the keys of the steps it
reads from and the content digests of its input folders from outside the run (the ``source:``
radiographs, :mod:`radsynth.pipeline.inputs`), so a change anywhere upstream re-runs everything
below it. Keys of finished steps are kept in ``RUN/pipeline.json``. A step whose folder exists
but is not recorded as finished was interrupted: a resumable stage (its config class sets
``RESUMABLE``: train, sample, fid-sweep, sampler-sweep) continues in place; any other stage's
partial folder is moved aside to ``<name>.stale-N`` (never deleted) and the stage runs again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radsynth.config import build_config, config_json
from radsynth.errors import RadsynthError
from radsynth.pipeline.inputs import HASH_CACHE, folder_digest
from radsynth.stage import StageResult, atomic_write_text, sha256_file

log = logging.getLogger(__name__)

#: Every step of ``radsynth run``, by the name recorded in pipeline.json; besides these, one
#: ``sample step-NNNNNNN`` step per chosen checkpoint.
PIPELINE_STEPS = frozenset({
    "phantoms", "ingest", "train", "fid_sweep", "orient", "screen", "keep", "audit",
    "exclude copies", "orient real", "study", "simulate", "export", "stats", "report",
})  # fmt: skip
SAMPLE_STEP = re.compile(r"sample step-\d{7}")


def is_pipeline_step(name: str) -> bool:
    """Whether ``name`` is a step of ``radsynth run`` (see :data:`PIPELINE_STEPS`)."""
    return name in PIPELINE_STEPS or SAMPLE_STEP.fullmatch(name) is not None


@dataclass(frozen=True)
class Step:
    """One stage call inside a run."""

    name: str  # label in the summary and in pipeline.json, e.g. "sample step-0034000"
    loader: Callable[[], tuple[type, Callable[[Any], Any]]]  # registry loader
    out: Path  # the step's output folder (or file, for the report)
    wired: dict[str, Any]  # fields the pipeline sets: input and output paths
    user: dict[str, Any]  # fields from the user's section of the pipeline file
    after: Sequence[str] = ()  # names of the steps whose outputs this one reads
    always: bool = False  # never cached (its input changes outside the pipeline, e.g. answers)
    inputs: Sequence[Path] = ()  # folders from outside the run whose contents go into the key

    def __post_init__(self) -> None:
        # A misspelt dependency would silently drop out of the cache key: refuse it here.
        unknown = [a for a in self.after if not is_pipeline_step(a)]
        if unknown:
            raise ValueError(
                f"step {self.name!r} reads from {', '.join(map(repr, unknown))}, which is no "
                f"pipeline step; steps: {', '.join(sorted(PIPELINE_STEPS))}, sample step-NNNNNNN"
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
    path = run_dir / "pipeline.json"
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text()).get("finished", {}))
    except (json.JSONDecodeError, AttributeError):
        return {}


def _write_state(run_dir: Path, finished: dict[str, str]) -> None:
    text = json.dumps({"finished": finished}, indent=2, sort_keys=True) + "\n"
    atomic_write_text(run_dir / "pipeline.json", text)


def step_key(cfg: Any, upstream_keys: Sequence[str]) -> str:
    """sha256 of a resolved config (or any plain value) and its upstream keys."""
    text = config_json(cfg) if dataclasses.is_dataclass(cfg) else json.dumps(cfg)
    digest = hashlib.sha256(text.encode())
    for key in upstream_keys:
        digest.update(key.encode())
    return digest.hexdigest()


def _move_aside(path: Path) -> Path:
    n = 1
    while (stale := path.with_name(f"{path.name}.stale-{n}")).exists():
        n += 1
    path.rename(stale)
    return stale


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
    upstream += [folder_digest(p, run_dir / HASH_CACHE) for p in step.inputs]
    cls, stage = step.loader()
    cfg = build_config(cls, step.user, step.wired)
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
    status = "ran"
    if step.out.exists():
        # The stage's config says whether the stage continues a half-written folder (RESUMABLE).
        resumable = getattr(cls, "RESUMABLE", False)
        if resumable and finished.get(step.name) is None and _same_config(step.out, cfg):
            status = "resumed"
            if "resume" in {f.name for f in dataclasses.fields(cfg)}:
                cfg = dataclasses.replace(cfg, resume=True)
        else:
            stale = _move_aside(step.out)
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
        previous = json.loads(path.read_text())
    except json.JSONDecodeError:
        return False
    current = json.loads(config_json(cfg))
    previous.pop("resume", None)
    current.pop("resume", None)
    return previous == current
