"""The ``radsynth stats`` stage: CLI smoke test, stats.json keys, bad input, partial data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fake_export import COLUMNS, quartet_rows, write_export

from radsynth.cli import main

TOP_KEYS = {
    "schema", "input", "rater_kind", "simulated", "rater_kinds_present", "design",
    "reference_group", "groups", "n_raters", "n_items", "n_judgements", "excluded_rows",
    "identification", "agreement", "realism", "by_set", "figures", "warnings",
}  # fmt: skip


def _run(csv: Path, out: Path, *extra: str) -> dict:
    assert main(["stats", str(csv), "--out", str(out), "--n-boot", "100", *extra]) == 0
    return json.loads((out / "stats.json").read_text())


def test_cli_smoke_writes_documented_keys(tmp_path: Path) -> None:
    csv = write_export(tmp_path / "export.csv", quartet_rows())
    res = _run(csv, tmp_path / "stats")
    assert set(res) == TOP_KEYS
    assert res["design"] == "quartet" and res["identification"]["chance"] == 0.25
    assert res["rater_kind"] == "human" and res["simulated"] is False
    assert res["n_raters"] == 8 and res["n_items"] == 12 and res["n_judgements"] == 96
    pooled = res["identification"]["pooled"]
    assert pooled["n"] == 96 and pooled["wilson_low"] < pooled["accuracy"] < pooled["wilson_high"]
    assert res["agreement"]["categories"] == ["real", "step-0001000", "step-0002000",
                                              "step-0003000"]  # fmt: skip
    tests = res["realism"]["wilcoxon"]
    assert [t["group"] for t in tests] == ["step-0001000", "step-0002000", "step-0003000"]
    assert all(t["branch"] in ("exact", "normal") and t["p_holm"] >= t["p_value"] for t in tests)
    assert all("Schuirmann" in t["method"] for t in res["realism"]["tost"])
    for name in res["figures"].values():
        assert (tmp_path / "stats" / name).stat().st_size > 1000
    manifest = json.loads((tmp_path / "stats" / "manifest.json").read_text())
    assert manifest["stage"] == "stats" and manifest["complete"] is True
    # The stage must run without torch (the study machine may not have it).
    code = "import sys, radsynth.stats.analysis; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_same_seed_same_numbers(tmp_path: Path) -> None:
    csv = write_export(tmp_path / "export.csv", quartet_rows(seed=3))
    a, b = _run(csv, tmp_path / "a"), _run(csv, tmp_path / "b")
    assert a["identification"]["bootstrap"] == b["identification"]["bootstrap"]
    assert a["agreement"]["bootstrap"] == b["agreement"]["bootstrap"]
    c = _run(csv, tmp_path / "c", "--seed", "1")
    assert c["identification"]["bootstrap"] != a["identification"]["bootstrap"]


def test_simulated_never_pooled(tmp_path: Path) -> None:
    rows = quartet_rows(n_raters=3, seed=1) + quartet_rows(n_raters=4, seed=2, kind="simulated")
    csv = write_export(tmp_path / "export.csv", rows)
    human = _run(csv, tmp_path / "h")
    assert human["rater_kind"] == "human" and human["n_raters"] == 3
    assert human["rater_kinds_present"] == {"human": 3, "simulated": 4}
    sim = _run(csv, tmp_path / "s", "--rater-kind", "simulated")
    assert sim["simulated"] is True and sim["n_raters"] == 4
    only_sim = write_export(tmp_path / "sim.csv", quartet_rows(n_raters=3, kind="simulated"))
    assert _run(only_sim, tmp_path / "auto")["rater_kind"] == "simulated"


def test_never_picked_group_keeps_four_categories(tmp_path: Path) -> None:
    rows = quartet_rows(seed=4)
    for key in {(r["rater"], r["item"]) for r in rows}:  # move every step-3 pick to real
        cell = [r for r in rows if (r["rater"], r["item"]) == key]
        if any(r["picked"] and r["group"] == "step-0003000" for r in cell):
            for r in cell:
                r["picked"] = int(r["group"] == "real")
    res = _run(write_export(tmp_path / "e.csv", rows), tmp_path / "o")
    assert res["identification"]["choices"]["step-0003000"] == 0
    assert res["agreement"]["fleiss"]["n_categories"] == 4


def test_kappa_uses_image_identity_not_screen_position(tmp_path: Path) -> None:
    rows = quartet_rows(seed=5)
    a = _run(write_export(tmp_path / "a.csv", rows), tmp_path / "a")
    for r in rows:  # show every quartet in the reverse order on screen
        r["position"] = 3 - r["position"]
    b = _run(write_export(tmp_path / "b.csv", rows), tmp_path / "b")
    assert a["agreement"]["fleiss"] == b["agreement"]["fleiss"]
    assert a["agreement"]["categories"][0] == "real"


def test_partial_data_warns_by_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [r for r in quartet_rows() if not (r["rater"] == "h2" and r["item"] in ("q03", "q07"))]
    res = _run(write_export(tmp_path / "e.csv", rows), tmp_path / "o")
    assert any("rater h2 did not answer 2 of 12 items (q03, q07)" in w for w in res["warnings"])
    assert any("10 of 12 items" in w for w in res["warnings"])
    assert "h2" in caplog.text
    assert res["n_judgements"] == 94


def test_attention_and_repeat_items_left_out(tmp_path: Path) -> None:
    rows = quartet_rows()
    for r in rows:
        r["item_kind"] = "attention" if r["item"] == "q12" else "main"
    res = _run(write_export(tmp_path / "e.csv", rows, [*COLUMNS, "item_kind"]), tmp_path / "o")
    assert res["n_items"] == 11 and res["excluded_rows"] == {"attention": 32}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda rows, cols: (rows, [c for c in cols if c not in ("picked", "group")]),
         "lacks column(s) group, picked"),
        (lambda rows, cols: ([r for r in rows if r["rater"] != "h1"]
                             + [{**r, "picked": 0, "rating": ""} for r in rows
                                if r["rater"] == "h1"], cols),
         "human rater h1 has no answers"),
        (lambda rows, cols: ([{**r, "rating": "" if r["group"] == "step-0002000"
                               and r["rater"] != "h1" else r["rating"]} for r in rows], cols),
         "group step-0002000 was rated by 1 human rater"),
        (lambda rows, cols: ([{**r, "rating": 7} for r in rows], cols), "outside 1-4"),
        (lambda rows, cols: ([{**r, "picked": 1} for r in rows], cols), "4 images picked"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_error(tmp_path: Path, capsys, mutate, message: str) -> None:
    rows, cols = mutate(quartet_rows(), list(COLUMNS))
    csv = write_export(tmp_path / "e.csv", rows, cols)
    out = tmp_path / "o"
    assert main(["stats", str(csv), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (out / "stats.json").exists()


def test_bad_settings_are_one_line_errors(tmp_path: Path, capsys) -> None:
    csv = write_export(tmp_path / "e.csv", quartet_rows())
    assert main(["stats", str(csv), "--equivalence-margin", "0"]) == 2
    assert "equivalence_margin must be > 0" in capsys.readouterr().err
    assert main(["stats", str(tmp_path / "missing.csv")]) == 2
    assert "not found" in capsys.readouterr().err


def test_existing_output_is_not_overwritten(tmp_path: Path, capsys) -> None:
    csv = write_export(tmp_path / "export.csv", quartet_rows())
    _run(csv, tmp_path / "o")
    before = (tmp_path / "o" / "stats.json").read_bytes()
    assert main(["stats", str(csv), "--out", str(tmp_path / "o"), "--seed", "5"]) == 2
    assert "already holds" in capsys.readouterr().err
    assert (tmp_path / "o" / "stats.json").read_bytes() == before


def test_single_image_design(tmp_path: Path) -> None:
    rows = []
    for r in range(4):
        for i in range(10):
            group = "real" if i % 2 == 0 else "step-0001000"
            answer = ["real", "fake", "unsure"][(r + i) % 3]
            rows.append({"rater": f"h{r}", "rater_kind": "human", "item": f"s{i}",
                         "image_id": f"{group}/{i}.png", "group": group, "position": 0,
                         "picked": "", "rating": 1 + (r * i) % 4, "answer": answer})  # fmt: skip
    res = _run(write_export(tmp_path / "e.csv", rows), tmp_path / "o")
    assert res["design"] == "single" and res["identification"]["chance"] == 0.5
    assert res["agreement"]["categories"] == ["real", "fake", "unsure"]
    assert res["identification"]["pooled"]["n"] == 40


def _fix_picks(rows: list[dict], rater: str, real: bool) -> list[dict]:
    """Make ``rater`` pick the real image in every item (real=True) or in none."""
    for row in rows:
        if row["rater"] == rater:
            row["picked"] = int((row["group"] == "real") == real and
                                (real or row["group"] == "step-0001000"))  # fmt: skip
    return rows


def test_raters_with_none_or_all_right_get_exact_edges(tmp_path: Path) -> None:
    """0 of n and n of n are ordinary Turing-test outcomes; they crashed the plot (issue 16)."""
    rows = _fix_picks(_fix_picks(quartet_rows(), "h1", real=False), "h2", real=True)
    res = _run(write_export(tmp_path / "export.csv", rows), tmp_path / "stats")
    per_rater = {r["rater"]: r for r in res["identification"]["per_rater"]}
    assert per_rater["h1"]["correct"] == 0 and per_rater["h1"]["wilson_low"] == 0.0
    assert per_rater["h2"]["correct"] == 12 and per_rater["h2"]["wilson_high"] == 1.0
    assert set(res["figures"]) == {"realism_violin", "accuracy_per_rater"}
    assert not any("figure" in w for w in res["warnings"])


def test_a_failing_plot_is_a_warning_not_a_failed_stage(tmp_path: Path, monkeypatch) -> None:
    from radsynth.stats import plots

    def broken(*args, **kwargs):
        raise ValueError("'yerr' must not contain negative values")

    monkeypatch.setattr(plots, "accuracy_per_rater", broken)
    res = _run(write_export(tmp_path / "export.csv", quartet_rows()), tmp_path / "stats")
    assert res["figures"] == {"realism_violin": "realism_violin.png"}
    assert any("accuracy_per_rater.png not drawn" in w and "yerr" in w for w in res["warnings"])
    manifest = json.loads((tmp_path / "stats" / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert not (tmp_path / "stats" / "accuracy_per_rater.png").exists()


def test_conf_level_reaches_the_plot_label(tmp_path: Path, monkeypatch) -> None:
    from radsynth.stats import plots

    labels = []
    real_figure = plots.accuracy_figure

    def spy(*args, **kwargs):
        fig = real_figure(*args, **kwargs)
        labels.extend(t.get_text() for t in fig.axes[0].get_legend().get_texts())
        return fig

    monkeypatch.setattr(plots, "accuracy_figure", spy)
    res = _run(write_export(tmp_path / "e.csv", quartet_rows()), tmp_path / "o",
               "--conf-level", "0.9")  # fmt: skip
    assert res["identification"]["pooled"]["conf_level"] == 0.9
    assert "rater (90% CI)" in labels and not any("95" in t for t in labels)


def test_rerun_after_a_crash_needs_no_hand_work(tmp_path: Path, monkeypatch, capsys) -> None:
    """A run that died mid-way (here: disk full writing stats.json) leaves config.json, an
    unfinished manifest and the plots; the same command again must just work (issue 16)."""
    from radsynth.records import stats as stats_record

    csv, out = write_export(tmp_path / "export.csv", quartet_rows()), tmp_path / "o"
    real_write = stats_record.atomic_write_text

    def disk_full(path: Path, text: str) -> None:
        if path.name == "stats.json":
            raise OSError(28, "No space left on device")
        real_write(path, text)

    monkeypatch.setattr(stats_record, "atomic_write_text", disk_full)  # stats.json's writer
    with pytest.raises(OSError):
        main(["stats", str(csv), "--out", str(out), "--n-boot", "100"])
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    assert (out / "accuracy_per_rater.png").is_file()
    monkeypatch.undo()
    res = _run(csv, out)  # the same config into the same folder
    assert res["n_raters"] == 8
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
    assert (tmp_path / "o.stale-1" / "accuracy_per_rater.png").is_file()  # kept, not deleted
    # A finished output is never replaced, even by the same config.
    before = (out / "stats.json").read_bytes()
    assert main(["stats", str(csv), "--out", str(out), "--n-boot", "100"]) == 2
    assert "finished stats run" in capsys.readouterr().err
    assert (out / "stats.json").read_bytes() == before
