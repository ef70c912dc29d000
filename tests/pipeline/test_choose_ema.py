"""The pipeline chooses the checkpoint and the post-hoc EMA length together: each step is scored
by its best EMA row, the steps are chosen by the usual rules over those scores, and a chosen step
whose best EMA is a reconstruction is sampled from the reconstructed checkpoint."""

from __future__ import annotations

import math
from pathlib import Path

from fake_runs import make_tiny_checkpoint

from radsynth.layout import RunLayout
from radsynth.pipeline.choose import CheckpointChoice, best_ema_rows, with_ema_lengths
from radsynth.pipeline.run import _choose
from radsynth.pipeline.spec import parse_spec
from radsynth.pipeline.stages import Wiring, sampled_checkpoint
from radsynth.records.choice import read_choice
from radsynth.records.ema_sweep import EmaSweepRow, write_ema_sweep

NAN = math.nan


def _row(step: int, sigma_rel: float | None, fid: float, checkpoint: str) -> EmaSweepRow:
    kind = "classic" if sigma_rel is None else "posthoc"
    sigma = NAN if sigma_rel is None else sigma_rel
    return EmaSweepRow(step, kind, sigma, NAN, NAN, checkpoint, 10, 10, fid, 0.01, 0.001, 0.5, 0.5)


def test_each_step_takes_its_best_ema_and_ties_go_to_the_classic() -> None:
    rows = [
        _row(2, None, 30.0, "c2"),
        _row(2, 0.05, 28.0, "r2-05"),
        _row(2, 0.10, 29.0, "r2-10"),
        _row(4, None, 25.0, "c4"),
        _row(4, 0.10, 25.0, "r4-10"),  # a tie: the classic EMA, trained weights as they are
        _row(6, 0.10, NAN, "r6"),  # a row that could not be scored is never chosen
    ]
    best = best_ema_rows(rows)
    assert {s: r.checkpoint for s, r in best.items()} == {2: "r2-05", 4: "c4"}
    choice = with_ema_lengths(
        CheckpointChoice((2, 4), {2: "named", 4: "named"}), rows, {2: 30.0, 4: 25.0}
    )
    assert choice.checkpoints == {2: "r2-05"}  # step 4 samples the training run's own
    assert "sigma_rel 0.050 (FID 28.00; the classic EMA: FID 30.00)" in choice.reasons[2]
    assert "with the classic EMA" in choice.reasons[4]


def test_the_pipeline_samples_the_reconstruction_chosen_with_its_step(tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "source": "films",
            "train": {"ema": "posthoc"},
            "ema_sweep": {"sigma_rel": [0.05, 0.1]},
            "n_checkpoints": 1,
        },
        base=tmp_path,
        run_dir=tmp_path / "run",
    )
    run = RunLayout(tmp_path / "run")
    gen = run.generator()
    for step in (2, 4):
        make_tiny_checkpoint(gen.train, steps=step, seed=step)
    rebuilt = gen.ema_sweep / "checkpoints" / "step-0000004-sigma_rel-0.100"
    rows = [
        _row(2, None, 40.0, str(gen.checkpoint(2))),
        _row(4, None, 35.0, str(gen.checkpoint(4))),
        _row(4, 0.1, 31.0, str(rebuilt)),
    ]
    write_ema_sweep(gen.ema_sweep_csv, gen.ema_sweep / "ema_sweep.json", rows)
    (generator,) = spec.generators
    (chosen,) = _choose(generator, gen)
    assert chosen.step == 4
    assert read_choice(gen.choice).checkpoints == {4: str(rebuilt)}
    assert sampled_checkpoint(Wiring(spec, run, (chosen,), None, chosen)) == rebuilt
    # A step chosen with its classic EMA samples the training run's checkpoint.
    classic = gen.set_of(2)
    assert sampled_checkpoint(Wiring(spec, run, (classic,), None, classic)) == gen.checkpoint(2)
