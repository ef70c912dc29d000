"""``radsynth bench polarity`` measures ingest's rule of today (shipped networks + collection
model + filmgate), on drawn frontal films (tests/sample_films.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sample_films import drawn_frontal

from radsynth.bench.polarity import (
    BenchPolarityConfig,
    bench_polarity,
    check_inputs,
    plant,
    run_checks,
    tally,
)
from radsynth.cli import main
from radsynth.data.filmchecks import CheckSettings
from radsynth.data.imageio import write_png
from radsynth.screening.bench import load_films


def write_drawn(folder: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        write_png(folder / f"{i:03d}.png", drawn_frontal(rng, 96))
    return folder


def test_a_turn_the_gate_sends_to_review_counts_as_review(tmp_path: Path) -> None:
    """12 drawn films, every one turned: too few for a collection model, so the gate sends each
    detected turn to review. The bench counts them as review, none as decided; issue 18's rule
    (the hand cue, rotation unchecked) would have kept them all as stored, i.e. decided wrong."""
    src = write_drawn(tmp_path / "src", 12, seed=81)
    planted = plant(load_films(src, 0, 96, seed=0), 0.5, 1.0, seed=0)
    inputs = check_inputs(planted)
    t = tally(run_checks(inputs, CheckSettings()), planted)
    assert t.turned == 12 and t.upright == 0
    assert t.rotation_review == 12 and t.any_review == 12
    assert t.turned_put_right == 0 and t.both_right_decided == 0
    old = tally(run_checks(inputs, CheckSettings(), shipped=False), planted)
    assert old.rotation_review == 0 and old.turned_put_right == 0


def test_bench_polarity_reports_the_ingest_rule_and_is_deterministic(tmp_path: Path) -> None:
    src = write_drawn(tmp_path / "src", 40, seed=82)
    cfg = BenchPolarityConfig(src=src, n=0, size_px=96, rotate_fraction=0.2, seed=3)
    first = bench_polarity(cfg).summary
    assert first == bench_polarity(cfg).summary  # same seed, same figures
    lines = first.splitlines()
    planted = plant(load_films(src, 0, 96, seed=3), 0.5, 0.2, seed=3)
    n_inv, n_turned = int(planted.inverted.sum()), int((planted.turns > 0).sum())
    assert lines[0] == f"40 films from {src}, {n_inv} inverted, {n_turned} turned (seed 3)"
    assert lines[1].startswith("ingest's rule (shipped networks + collection model + gate)")
    assert lines[2].startswith("polarity (combined): accuracy among decided 100.0% (")
    assert f"upright films turned 0.0% (0/{40 - n_turned};" in lines[3]
    assert lines[5].startswith("issue 18's rule (collection model alone)")
    assert lines[-1].startswith("polarity (hand cue alone): accuracy")


def test_bench_polarity_cli(tmp_path: Path, capsys) -> None:
    src = str(write_drawn(tmp_path / "src", 6, seed=83))
    assert main(["bench", "polarity", src, "--size-px", "96", "--rotate-fraction", "1"]) == 0
    out = capsys.readouterr().out
    assert "review for rotation only 100.0% (6/6;" in out
    assert main(["bench", "polarity", str(tmp_path / "none")]) == 2
    # Cross-source: issue 18's collection model learned on another folder, no review.
    other = str(write_drawn(tmp_path / "other", 12, seed=84))
    assert main(["bench", "polarity", src, "--size-px", "96", "--fit-on", other]) == 0
    out = capsys.readouterr().out
    assert f"polarity, model learned on {other}: accuracy" in out
    assert f"rotation, model learned on {other}: accuracy" in out
    # A flag of bench orient is refused, not ignored.
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "polarity", src, "--view", "lateral"])
    assert exit_info.value.code == 2
