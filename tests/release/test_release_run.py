"""Releasing a real tiny run: every file checks against SHA256SUMS, the folder loads with
Hugging Face ``datasets``, the reviewer's decisions reach the counts, and nothing identifying
leaves with it."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from release_setup import N_KEPT_BY_REVIEWER, REVIEWER, do_release, read_csv

from radsynth.cli import main
from radsynth.release.manifest import parse_sha256sums


def test_every_file_checks_against_sha256sums(released: Path) -> None:
    sums = parse_sha256sums((released / "SHA256SUMS").read_text())
    files = {p.relative_to(released).as_posix() for p in released.rglob("*") if p.is_file()}
    assert set(sums) == files - {"SHA256SUMS"}
    for rel, digest in sums.items():
        assert hashlib.sha256((released / rel).read_bytes()).hexdigest() == digest, rel
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum (GNU coreutils) is not installed")
    check = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=released,
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == len(sums)


def test_metadata_maps_each_opaque_id_to_its_provenance(released: Path, tiny_run: Path) -> None:
    rows = read_csv(released / "metadata.csv")
    assert list(rows[0])[0] == "file_name"
    assert len(rows) == N_KEPT_BY_REVIEWER
    flips = {r["image"]: r["flipped"] for r in read_csv(tiny_run / "oriented" / "orientation.csv")}
    for row in rows:
        png = released / row["file_name"]
        assert png.name == f"{row['id']}.png" and re.fullmatch("[0-9a-f]{16}", row["id"])
        assert hashlib.sha256(png.read_bytes()).hexdigest() == row["sha256"]
        # The row leads back to its sample as generated; the flip is the orient stage's.
        source = tiny_run / "samples" / row["checkpoint"] / f"{int(row['seed']):06d}.png"
        generated = np.asarray(Image.open(source))
        released_px = np.asarray(Image.open(png))
        flipped = flips[f"{row['checkpoint']}/{source.name}"]
        assert row["orientation_flipped"] == flipped
        assert np.array_equal(released_px, generated[:, ::-1] if flipped == "1" else generated)
        assert row["screen_decision"] == "keep" and row["screen_flagged"] == "1"
        assert row["decided_by"] == "reviewer-1"
        assert row["audit_similarity"] and row["audit_percentile"]
        assert len(row["checkpoint_sha256"]) == 64 and row["sampler"] == "dpmpp"
    with Image.open(released / rows[0]["file_name"]) as img:
        assert not img.info and not img.text  # no metadata of any kind


def test_table_s1_counts_the_reviewer_override(released: Path) -> None:
    table = read_csv(released / "table_s1.csv")
    total = table[-1]
    assert total["group"] == "total"
    assert int(total["kept"]) == N_KEPT_BY_REVIEWER
    # The tiny model draws noise, which the screen flags; the reviewer kept some anyway.
    assert int(total["excluded_by_screen"]) == int(total["generated"])
    assert int(total["overridden_by_reviewer"]) == N_KEPT_BY_REVIEWER
    card = (released / "README.md").read_text()
    flagged, excluded = total["flagged_by_screen"], total["excluded_by_screen"]
    assert f"| total | {total['generated']} | {flagged} | {excluded} |" in card


def test_card_has_the_hub_header_and_the_facts(released: Path, tiny_run: Path) -> None:
    card = (released / "README.md").read_text()
    header = card.split("---\n")[1]
    import yaml

    meta = yaml.safe_load(header)
    assert meta["license"] == "cc-by-4.0" and "synthetic" in meta["tags"]
    assert "come from phantoms, not from patients" in card
    assert "CC0-1.0" in card and "radsynth procedural phantoms" in card
    for ckpt in (tiny_run / "samples").iterdir():
        weights = json.loads((ckpt / "sampling.json").read_text())["checkpoint_id"]
        assert weights in card
    for heading in ("How the images were made", "Table S1", "Memorization audit",
                    "Licence and attribution", "Intended use", "Known limitations"):  # fmt: skip
        assert f"## {heading}" in card
    # Nothing local or personal leaves: no reviewer address, no run path.
    for path in released.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".csv", ".json", ".jsonl"):
            text = path.read_text()
            assert REVIEWER not in text and str(tiny_run) not in text, path


def test_shards_hold_the_same_images_and_rows(released: Path) -> None:
    rows = {r["id"]: r for r in read_csv(released / "metadata.csv")}
    shards = sorted((released / "shards").glob("shard-*.tar"))
    assert len(shards) == -(-len(rows) // 4)
    seen = set()
    for shard in shards:
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, ext = member.name.rsplit(".", 1)
                data = tar.extractfile(member).read()
                if ext == "png":
                    assert data == (released / rows[key]["file_name"]).read_bytes()
                    seen.add(key)
                else:
                    assert json.loads(data)["sha256"] == rows[key]["sha256"]
    assert seen == set(rows)


def test_loads_with_hugging_face_datasets(released: Path, tmp_path: Path, monkeypatch) -> None:
    # Offline, with its caches in tmp_path; set before `datasets` reads its config at import.
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets  # a test dependency (pyproject's test extra)

    ds = datasets.load_dataset("imagefolder", data_dir=str(released),
                               cache_dir=str(tmp_path / "cache"))["train"]  # fmt: skip
    rows = read_csv(released / "metadata.csv")
    assert ds.num_rows == len(rows)
    assert set(ds.column_names) == {"image"} | (set(rows[0]) - {"file_name"})
    by_id = {r["id"]: r for r in rows}
    for item in ds:
        row = by_id[item["id"]]
        assert item["seed"] == int(row["seed"]) and item["checkpoint"] == row["checkpoint"]
        png = (released / row["file_name"]).read_bytes()
        assert np.array_equal(np.asarray(item["image"]), np.asarray(Image.open(io.BytesIO(png))))


def test_same_run_gives_the_same_release(tiny_run: Path, released: Path, tmp_path: Path) -> None:
    again = tmp_path / "again" / "release"
    do_release(tiny_run, again, shard_size=4)
    assert (again / "SHA256SUMS").read_text() == (released / "SHA256SUMS").read_text()


def test_stage_by_stage_flags_match_the_run(tiny_run: Path, released: Path, tmp_path: Path,
                                            capsys) -> None:  # fmt: skip
    out = tmp_path / "release"
    parts = ["--images", "samples", "--orient", "oriented", "--screen", "screen",
             "--review", "review", "--audit", "audit", "--ingest", "data"]  # fmt: skip
    argv = ["release", str(out), *(p if p.startswith("--") else str(tiny_run / p) for p in parts)]
    assert main(argv) == 0
    assert f"released {N_KEPT_BY_REVIEWER} images" in capsys.readouterr().out
    assert (out / "metadata.csv").read_text() == (released / "metadata.csv").read_text()


def test_dry_run_prints_table_s1_and_writes_nothing(tiny_run: Path, tmp_path: Path,
                                                    capsys) -> None:  # fmt: skip
    out = tmp_path / "dry" / "release"
    assert main(["release", str(tiny_run), str(out), "--dry-run", "--keep", "all"]) == 0
    printed = capsys.readouterr().out
    assert "generated" in printed and "total" in printed
    assert "nothing would be refused" in printed
    assert not out.exists() and not (tmp_path / "dry").exists()


def test_occupied_output_is_refused_in_one_line(tiny_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "release"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert main(["release", str(tiny_run), str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "already holds files" in err
    assert (out / "mine.txt").read_text() == "keep me"
