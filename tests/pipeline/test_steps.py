"""Step caching: unchanged steps are skipped, changed ones re-run, stale output is kept aside."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.pipeline.steps import Step, is_pipeline_step, read_state, run_step
from radsynth.stage import StageResult, prepare_output_dir, write_manifest


@dataclass(frozen=True)
class CountConfig:
    """Write the numbers 0..n-1 to a file."""

    out: Path = arg(help="output folder", positional=True)
    n: int = arg(3, help="how many numbers")


def count(cfg: CountConfig) -> StageResult:
    prepare_output_dir(cfg.out, "count", cfg)
    (cfg.out / "numbers.txt").write_text(" ".join(map(str, range(cfg.n))))
    write_manifest(cfg.out, "count", cfg)
    return StageResult(cfg.out, f"wrote {cfg.n} numbers")


def _step(name: str, out: Path, after: list[str] | tuple = (), **fields) -> Step:
    return Step(name, count, CountConfig(out=out, **fields), out, after=after)


def test_cached_then_rerun_on_change(tmp_path: Path) -> None:
    out = tmp_path / "count"
    first = run_step(_step("count", out, n=3), tmp_path, {})
    assert first.status == "ran" and (out / "numbers.txt").read_text() == "0 1 2"
    again = run_step(_step("count", out, n=3), tmp_path, {})
    assert again.status == "cached"
    changed = run_step(_step("count", out, n=4), tmp_path, {})
    assert changed.status == "ran" and (out / "numbers.txt").read_text() == "0 1 2 3"
    # The earlier output is kept, not deleted.
    assert (tmp_path / "count.stale-1" / "numbers.txt").read_text() == "0 1 2"
    assert set(read_state(tmp_path)) == {"count"}


def test_upstream_change_invalidates_downstream(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    keys: dict[str, str] = {}
    run_step(_step("ingest", a, n=2), tmp_path, keys)
    run_step(_step("train", b, ["ingest"]), tmp_path, keys)
    keys = {}
    run_step(_step("ingest", a, n=5), tmp_path, keys)
    outcome = run_step(_step("train", b, ["ingest"]), tmp_path, keys)
    assert outcome.status == "ran"


def test_a_dependency_that_is_no_step_is_refused_at_definition(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'fid-sweep', which is no pipeline step"):
        _step("report", tmp_path, ["stats", "fid-sweep"])
    _step("orient", tmp_path, ["sample step-0001000"])  # one per checkpoint


def test_a_dependency_that_has_not_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "data"
    step = _step("ingest", out, ["phantoms"])
    with pytest.raises(RadsynthError, match="reads from phantoms, which has not run"):
        run_step(step, tmp_path, {})
    assert not out.exists()  # refused before anything ran
    # A known step that this run leaves out (a `source:` folder instead of phantoms) is allowed.
    assert run_step(step, tmp_path, {}, absent={"phantoms"}).status == "ran"


def test_every_dependency_of_the_pipeline_is_a_step() -> None:
    """The stage table's own wiring: every `after` names an earlier row of PIPELINE, every row
    calls a stage of STAGES, and the sections derive from the rows."""
    from radsynth.layout import RunLayout, SyntheticSet
    from radsynth.pipeline.spec import parse_spec
    from radsynth.pipeline.stages import PIPELINE, Wiring, expand_after, sections, stage

    spec = parse_spec(
        {"source": "x", "generators": {"ddpm": {}, "gan": {"train_gan": {}}}}, base=Path(".")
    )
    chosen = tuple(SyntheticSet(g, s) for g in ("ddpm", "gan") for s in (1000, 2000))
    seen: set[str] = set()
    for row in PIPELINE:
        assert set(row.after) <= seen, (row.name, set(row.after) - seen)
        w = Wiring(spec, RunLayout(Path("r")), chosen, "gan", chosen[-1])
        assert all(is_pipeline_step(n) for n in expand_after(row, w))
        stage(row.stage)  # raises for a stage the table lacks
        seen.add(row.name)
    assert len(PIPELINE) >= 17
    assert sections()[:5] == ("phantoms", "ingest", "train", "train_gan", "fid_sweep")
    assert "export" not in sections() and "keep" not in sections()


def test_every_row_of_the_stage_table_loads() -> None:
    """Each row names a module, config dataclass and function that exist (a moved module
    would otherwise fail only when its step runs)."""
    import dataclasses

    from radsynth.pipeline.stages import STAGES

    for row in STAGES:
        cls, function = row.load()
        assert dataclasses.is_dataclass(cls) and callable(function), row.command


def test_interrupted_non_resumable_step_is_moved_aside(tmp_path: Path) -> None:
    out = tmp_path / "count"
    out.mkdir()
    (out / "half-written.txt").write_text("partial")
    outcome = run_step(_step("count", out), tmp_path, {})
    assert outcome.status == "ran"
    assert (tmp_path / "count.stale-1" / "half-written.txt").read_text() == "partial"


def test_an_earlier_output_can_be_set_aside_elsewhere(tmp_path: Path) -> None:
    """A changed sample step's old folder must not stay under samples/, which orient reads."""
    out, aside = tmp_path / "samples" / "step-0000002", tmp_path / "samples-unused"
    step = Step("count", count, CountConfig(out=out, n=3), out, aside=aside)
    assert run_step(step, tmp_path, {}).status == "ran"
    step = Step("count", count, CountConfig(out=out, n=4), out, aside=aside)
    assert run_step(step, tmp_path, {}).status == "ran"
    assert [p.name for p in (tmp_path / "samples").iterdir()] == ["step-0000002"]
    assert (aside / "step-0000002.stale-1" / "numbers.txt").read_text() == "0 1 2"
