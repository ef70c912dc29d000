"""``radsynth run`` asks the study database whether its raters have finished: through the study's
service layer on a real SQLite study, without importing the web app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy.orm import Session

from radsynth.pipeline.readers import reader_progress
from radsynth.study import db as study_db
from radsynth.study.create import CreateStudyConfig, create_study
from radsynth.study.links import set_closed
from radsynth.study.migrate import open_study
from radsynth.study.simulate import SimulateConfig, simulate_raters


def _images(folder: Path, n: int, seed: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        pixels = (rng.random((32, 32)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:06d}.png")
    return folder


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A quartet study of 3 items and 2 human links, on SQLite."""
    real = _images(tmp_path / "real", 6, 0)
    synthetic = tuple(f"s{k}={_images(tmp_path / f's{k}', 6, k + 1)}" for k in range(3))
    out = tmp_path / "study"
    create_study(CreateStudyConfig(out=out, real=real, synthetic=synthetic, items=3, raters=2))
    return out


def test_simulated_raters_finish_human_links_wait(study: Path) -> None:
    human = reader_progress(study, "human")
    assert [(name, answered, closed) for name, answered, _, closed in human.raters] == [
        ("rater-01", 0, False), ("rater-02", 0, False)]  # fmt: skip
    assert all(total >= 3 for *_, total, _ in human.raters)
    assert not human.finished and human.summary == "0 of 2 human raters finished"
    assert not reader_progress(study, "simulated").finished  # none yet: nothing to go on with

    simulate_raters(SimulateConfig(study=study, raters=2, seed=1))
    simulated = reader_progress(study, "simulated")
    assert len(simulated.raters) == 2 and simulated.finished
    assert all(answered == total for _, answered, total, _ in simulated.raters)


def test_closed_links_are_not_waited_for(study: Path) -> None:
    engine = open_study(study_db.resolve_url(study, None))
    with Session(engine) as session, session.begin():
        set_closed(session, "rater-01", True, "test")
        set_closed(session, "rater-02", True, "test")
    engine.dispose()
    progress = reader_progress(study, "human")
    assert progress.finished and "rater-01: closed" in progress.describe()


def test_counting_answers_imports_no_web_app() -> None:
    web = "('fastapi', 'starlette', 'jinja2', 'torch')"
    code = ("import sys, radsynth.pipeline.readers; "
            f"sys.exit(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {web} "
            "or m == 'radsynth.study.app')) or None)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
