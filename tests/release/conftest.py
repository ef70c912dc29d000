"""A tiny real run for the release tests: phantoms -> ingest -> train -> sample (two
checkpoints) -> orient -> screen -> audit, and a reviewer who overrides the screen on the
review page. Built once per session (about half a minute on 2 CPU cores)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from release_setup import N_KEPT_BY_REVIEWER, REVIEWER, do_release, read_csv, run_stage
from review_helpers import review_client

from radsynth.fates.keep import collect_kept, decide_kept


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run folder in the layout ``radsynth run`` writes (read-only for the tests)."""
    run = tmp_path_factory.mktemp("release") / "run"
    run_stage(
        "phantoms",
        out=run / "phantoms",
        n=160,
        size_px=64,
        seed=0,
        implausible_fraction=0.0,
        negative_fraction=0.1,
        right_facing_fraction=0.5,
    )
    run_stage(
        "ingest",
        src=run / "phantoms" / "images",
        out=run / "data",
        size_px=32,
        resize="stretch",
        seed=0,
        source_licence="CC0-1.0",
        attribution="radsynth procedural phantoms",
    )
    run_stage("train", data=run / "data", out=run / "train", preset="tiny", seed=0)
    for ckpt in sorted((run / "train" / "checkpoints").iterdir()):
        run_stage(
            "sample", ckpt=ckpt, out=run / "samples" / ckpt.name, n=8, steps=4, progress=False
        )
    run_stage("orient", src=run / "samples", out=run / "oriented")
    run_stage("screen", src=run / "oriented", out=run / "screen", reference=run / "data" / "val")
    # The audit sees every sample (as the pipeline's `keep: all`), so reviewers may keep any.
    collect_kept(
        decide_kept(run, "all", with_audit=False), run / "samples", run / "kept_as_generated"
    )
    run_stage(
        "audit",
        train=run / "data" / "train",
        val=run / "data" / "val",
        synthetic=run / "kept_as_generated",
        out=run / "audit",
        flag_percentile=90.0,  # what 24 held-out images support (99.5 needs 200)
    )
    # A reviewer keeps a few images the screen flagged (the tiny model draws noise, which the
    # screen rightly rejects) and confirms the exclusion of another.
    client = review_client(run / "review", run / "screen", run / "audit")
    rows = read_csv(run / "screen" / "screen.csv")
    by_group = [[r for r in rows if r["group"] == g] for g in sorted({r["group"] for r in rows})]
    half = N_KEPT_BY_REVIEWER // 2
    decisions = [(r, "keep") for group in by_group for r in group[:half]]
    decisions.append((by_group[0][half], "exclude"))
    for row, decision in decisions:
        data = {"reviewer": REVIEWER, "image": row["image"], "decision": decision}
        assert client.post("/screen/decide", data=data).status_code == 200
    return run


@pytest.fixture
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """A copy of the tiny run that a test may change."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


@pytest.fixture(scope="session")
def released(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run's release, with shards of 4 images (read-only for the tests)."""
    out = tmp_path_factory.mktemp("released") / "release"
    do_release(tiny_run, out, shard_size=4)
    return out
