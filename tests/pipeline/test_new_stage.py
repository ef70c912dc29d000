"""Adding a stage touches only its own module and the stage table (issue 23).

The test writes a new stage module (it counts the ingested training images) and adds one row to
``STAGES`` and one to ``PIPELINE``; nothing else changes. The new stage then has a subcommand,
a YAML section whose keys are checked, a step in ``radsynth run`` keyed on the step it reads
from, and a cached re-run.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from radsynth.cli import main
from radsynth.errors import RadsynthError
from radsynth.pipeline import stages
from radsynth.pipeline.demo import demo_spec
from radsynth.pipeline.run import run_pipeline
from radsynth.pipeline.spec import parse_spec
from radsynth.pipeline.steps import read_state

MODULE = '''
from dataclasses import dataclass
from pathlib import Path

from radsynth.config import arg
from radsynth.stage import StageResult


@dataclass(frozen=True)
class CountConfig:
    """Count the PNG files of a folder."""

    src: Path = arg(help="folder of images", positional=True)
    out: Path = arg(help="output folder", positional=True)
    label: str = arg("images", help="what the count is of")


def count_images(cfg: CountConfig) -> StageResult:
    n = len(list(cfg.src.glob("*.png")))
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "count.txt").write_text(f"{n} {cfg.label}\\n")
    return StageResult(cfg.out, f"{n} {cfg.label}")
'''


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stage table with one stage added: its module, one STAGES row, one PIPELINE row."""
    (tmp_path / "count_stage.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    row = stages.Stage(
        "count-images", "count a folder's images", "count_stage", "CountConfig", "count_images"
    )
    step = stages.PipelineStep(
        "count images",
        "count-images",
        "count_images",
        lambda w: w.run.inside("count"),
        lambda w, u: {"src": w.run.split("train"), "out": w.run.inside("count")},
        after=("ingest",),
    )
    monkeypatch.setattr(stages, "STAGES", (*stages.STAGES, row))
    ingest = [s.name for s in stages.PIPELINE].index("ingest")
    # The run ends after the new step: phantoms, ingest, count images.
    monkeypatch.setattr(stages, "PIPELINE", (*stages.PIPELINE[: ingest + 1], step))


def _spec(tmp_path: Path, section: dict) -> object:
    demo = demo_spec("tiny", 0)
    data = {
        "name": "count",
        "phantoms": {**demo["phantoms"], "n": 40},
        "ingest": demo["ingest"],
        "count_images": section,
    }
    return parse_spec(data, base=tmp_path, run_dir=tmp_path / "run")


@pytest.mark.usefixtures("table")
def test_a_new_stage_runs_from_its_module_and_its_table_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "count-images" in stages.command_tree()  # its subcommand comes from the table
    run_pipeline(_spec(tmp_path, {"label": "films"}))
    out = tmp_path / "run" / "count"
    n, label = (out / "count.txt").read_text().split()
    assert label == "films" and int(n) > 0  # the YAML section reached the config
    state = read_state(tmp_path / "run")
    assert set(state) == {"phantoms", "ingest", "count images"}

    capsys.readouterr()
    run_pipeline(_spec(tmp_path, {"label": "films"}))
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("[")]
    assert any(x.startswith("[ cached] count images") for x in lines), lines

    # A changed section re-runs the new step only.
    run_pipeline(_spec(tmp_path, {"label": "radiographs"}))
    assert (out / "count.txt").read_text().split()[1] == "radiographs"


@pytest.mark.usefixtures("table")
def test_a_new_stages_section_is_checked_like_any_other(tmp_path: Path) -> None:
    with pytest.raises(RadsynthError, match="section 'count_images': unknown key.*lable"):
        run_pipeline(_spec(tmp_path, {"lable": "films"}))
    with pytest.raises(RadsynthError, match="count_images.*src is set by the pipeline"):
        run_pipeline(_spec(tmp_path, {"src": "elsewhere"}))
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.usefixtures("table")
def test_a_new_stage_has_a_subcommand(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        (tmp_path / "imgs" / f"{i}.png").write_bytes(b"")
    assert main(["count-images", str(tmp_path / "imgs"), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "count.txt").read_text() == "3 images\n"
