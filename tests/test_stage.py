"""What every stage shares (radsynth.stage): the output-folder rule and figures that never fail
a stage."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.stage import draw_figure, prepare_output_dir, write_manifest


@dataclasses.dataclass(frozen=True)
class _Cfg:
    """A toy stage config."""

    out: Path = arg(help="output", positional=True)
    size: int = arg(4, help="px")


def _crashed_run(out: Path, cfg: _Cfg) -> None:
    """What a stage leaves when it dies after its first output: stub manifest, a plot."""
    assert prepare_output_dir(out, "toy", cfg) is False
    (out / "plot.png").write_bytes(b"partial")


def _finished(out: Path, stage: str, cfg: _Cfg) -> bool:
    """The folder's manifest marks a finished run of this stage, and config.json is this one."""
    manifest = json.loads((out / "manifest.json").read_text())
    same = json.loads((out / "config.json").read_text()) == {"out": str(cfg.out), "size": cfg.size}
    return manifest["stage"] == stage and manifest["complete"] is True and same


def test_unfinished_run_with_the_same_config_starts_over(tmp_path: Path, caplog) -> None:
    out, cfg = tmp_path / "o", _Cfg(out=tmp_path / "o")
    _crashed_run(out, cfg)
    with caplog.at_level(logging.WARNING):
        assert prepare_output_dir(out, "toy", cfg) is False  # no hand work needed
    assert "moved aside" in caplog.text
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "manifest.json"]
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    # Nothing is deleted: the unfinished run's files are kept beside the folder.
    assert (tmp_path / "o.stale-1" / "plot.png").read_bytes() == b"partial"
    _crashed_run(tmp_path / "p", _Cfg(out=tmp_path / "p"))  # a second one goes to .stale-2
    (out / "x").write_text("")
    prepare_output_dir(out, "toy", cfg)
    assert (tmp_path / "o.stale-2" / "x").is_file() and (tmp_path / "o.stale-1").is_dir()


def test_unfinished_run_is_resumed_where_the_stage_resumes(tmp_path: Path) -> None:
    out, cfg = tmp_path / "o", _Cfg(out=tmp_path / "o")
    _crashed_run(out, cfg)
    assert prepare_output_dir(out, "toy", cfg, resume=True) is True
    assert (out / "plot.png").read_bytes() == b"partial" and not (tmp_path / "o.stale-1").exists()


def test_finished_or_foreign_output_is_refused_and_kept(tmp_path: Path) -> None:
    out, cfg = tmp_path / "o", _Cfg(out=tmp_path / "o")
    _crashed_run(out, cfg)
    write_manifest(out, "toy", cfg)
    assert _finished(out, "toy", cfg)
    with pytest.raises(RadsynthError, match="finished toy run with this config"):
        prepare_output_dir(out, "toy", cfg)
    with pytest.raises(RadsynthError, match="a different config"):
        prepare_output_dir(out, "toy", _Cfg(out=out, size=8))
    with pytest.raises(RadsynthError, match="other files"):
        prepare_output_dir(out, "other-stage", cfg)
    assert prepare_output_dir(out, "toy", cfg, resume=True) is True  # a finished resume: no-op
    assert (out / "plot.png").read_bytes() == b"partial" and _finished(out, "toy", cfg)
    # An unfinished run with another config is refused too (it is not this run's).
    _crashed_run(tmp_path / "u", _Cfg(out=tmp_path / "u"))
    with pytest.raises(RadsynthError, match="a different config"):
        prepare_output_dir(tmp_path / "u", "toy", _Cfg(out=tmp_path / "u", size=8))
    foreign = tmp_path / "f"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(RadsynthError, match="other files"):
        prepare_output_dir(foreign, "toy", _Cfg(out=foreign))
    assert not list(tmp_path.glob("*.stale-*"))


def test_a_figure_error_is_a_warning(tmp_path: Path, caplog) -> None:
    from matplotlib.figure import Figure

    def negative_error_bars() -> Path:  # the crash of issue 16, from matplotlib itself
        ax = Figure().add_subplot()
        ax.errorbar([0], [0.0], yerr=[[5.6e-17 * -1], [0.2]])
        return tmp_path / "never.png"

    warnings: list[str] = []
    with caplog.at_level(logging.WARNING):
        assert draw_figure("acc.png", negative_error_bars, warnings) is None
    assert len(warnings) == 1 and "acc.png not drawn" in warnings[0] and "yerr" in warnings[0]
    assert "\n" not in warnings[0] and "acc.png not drawn" in caplog.text
    assert draw_figure("ok.png", lambda: tmp_path / "ok.png") == tmp_path / "ok.png"
