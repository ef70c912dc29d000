"""Text files that are not UTF-8, or not valid CSV/JSON/YAML, stop a stage with one line naming
the file, never a traceback (radsynth.io, used by every stage's readers)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from radsynth.cli import main
from radsynth.errors import RadsynthError
from radsynth.io import read_csv_rows, read_json, read_text, read_yaml

REPO = Path(__file__).resolve().parents[1]
HEADER = ["rater", "rater_kind", "item", "image_id", "group", "picked", "rating", "answer"]


def _export_text() -> str:
    """A small single-image study export; the rater's name is not ASCII."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    for r, rater in enumerate(["Zoë", "José"]):
        for i in range(6):
            group = "real" if i % 2 == 0 else "step-0001000"
            answer = ("real", "fake")[(i + r) % 2]
            writer.writerow([rater, "human", f"s{i}", f"{group}/{i}.png", group, "", 2, answer])
    return buf.getvalue()


ENCODED = {
    "latin-1": (_export_text().encode("latin-1"), "byte 0xeb at offset"),
    "utf-16": (_export_text().encode("utf-16"), "is UTF-16 text"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary file"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODED))
def test_stats_on_a_non_utf8_csv_is_one_line(tmp_path: Path, capsys, encoding: str) -> None:
    data, why = ENCODED[encoding]
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    assert main(["stats", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "responses file" in err and str(path) in err and why in err
    assert not (tmp_path / "o").exists()


def test_the_real_command_prints_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(ENCODED["latin-1"][0])
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "radsynth.cli", "stats", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "is not UTF-8 text" in proc.stderr


def test_utf8_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_export_text().encode("utf-8-sig"))
    rows = read_csv_rows(path, required=HEADER)
    assert rows[0]["rater"] == "Zoë" and len(rows) == 12
    assert main(["stats", str(path), "--out", str(tmp_path / "o"), "--n-boot", "50"]) == 0


def test_a_non_utf8_config_file_is_one_line(tmp_path: Path, capsys) -> None:
    export = tmp_path / "export.csv"
    export.write_text(_export_text(), encoding="utf-8")
    config = tmp_path / "stats.yaml"
    config.write_bytes("# réglages\nn_boot: 50\n".encode("latin-1"))
    assert main(["stats", str(export), "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "config file" in err and "not UTF-8" in err


def test_report_on_a_non_utf8_csv_is_one_line(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    (run / "train").mkdir(parents=True)
    (run / "train" / "losses.csv").write_bytes("step,train_loss\n1,0.5\n".encode("utf-16"))
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "losses.csv" in err and "UTF-16" in err


def test_malformed_files_are_one_line(tmp_path: Path) -> None:
    bad = {
        "rows.csv": ("a,b\n1,2\n3,4,5\n", read_csv_rows, "line 3: the row has more fields"),
        "short.csv": ("a,b\n1\n", read_csv_rows, "line 2: the row has fewer fields"),
        "huge.csv": ("a,b\n" + "x" * 200_000 + ",1\n", read_csv_rows, "not valid CSV: field"),
        "x.json": ('{"a": 1,\n}', read_json, "not valid JSON (line 2, column 1"),
        "x.yaml": ("a: [1, 2\nb: 3\n", read_yaml, "not valid YAML/JSON (line"),
    }
    for name, (text, reader, message) in bad.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(RadsynthError, match=message.replace("(", r"\(")) as exc:
            reader(tmp_path / name)
        assert "\n" not in str(exc.value) and name in str(exc.value)
    with pytest.raises(RadsynthError, match="lacks column"):
        read_csv_rows(tmp_path / "rows.csv", required=("a", "c"))
    with pytest.raises(RadsynthError, match="responses file not found"):
        read_text(tmp_path / "missing.csv", "responses file")
    with pytest.raises(RadsynthError, match="cannot read"):
        read_text(tmp_path)  # a folder
