"""The copy detector on real paediatric films: every planted near-copy is found and matched to
its source at the default threshold, mirrors are reported mirrored, the run is deterministic,
and leaking or too small held-out sets are refused."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from radsynth.audit.audit import AuditConfig, audit
from radsynth.audit.plant import TRANSFORMS, plant
from radsynth.cli import main
from radsynth.data.imageio import read_gray, write_png
from radsynth.errors import RadsynthError

N_TRAIN, N_VAL, N_NEW = 80, 100, 30
PCT = 99.0  # needs 100 held-out images


def _films(cxr_dir: Path, n: int, seed: int) -> list[np.ndarray]:
    with open(cxr_dir / "manifest.csv", newline="") as fh:
        files = [cxr_dir / row["file"] for row in csv.DictReader(fh)]
    pick = np.random.default_rng(seed).choice(len(files), n, replace=False)
    return [read_gray(files[i]) for i in pick]


def make_sets(cxr_dir: Path, root: Path, seed: int = 0, size_px: int = 64) -> dict[str, tuple]:
    """train / val / synthetic folders of distinct real films at ``size_px``; the synthetic
    folder holds two planted copies per transform. Returns {name: (train name, kind)}."""
    from radsynth.data.resample import resize_float

    imgs = [
        resize_float(x, size_px, size_px) for x in _films(cxr_dir, N_TRAIN + N_VAL + N_NEW, seed)
    ]
    for i in range(N_TRAIN):
        write_png(root / "train" / f"{i:06d}.png", imgs[i])
    for i in range(N_VAL):
        write_png(root / "val" / f"{i:06d}.png", imgs[N_TRAIN + i])
    for i in range(N_NEW):
        write_png(root / "synthetic" / f"new-{i:03d}.png", imgs[N_TRAIN + N_VAL + i])
    rng = np.random.default_rng(seed + 1)
    planted = {}
    sources = rng.choice(N_TRAIN, 2 * len(TRANSFORMS), replace=False)
    for j, src in enumerate(sources):
        kind = list(TRANSFORMS)[j % len(TRANSFORMS)]
        name = f"mem-{kind}-{j:02d}.png"
        write_png(root / "synthetic" / name, plant(imgs[src], kind, seed=1000 + j))
        planted[name] = (f"{src:06d}.png", kind)
    return planted


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _cfg(root: Path, out: str = "audit", **kw) -> AuditConfig:
    kw = {"flag_percentile": PCT, "top_k": 25, **kw}
    return AuditConfig(train=root / "train", val=root / "val", synthetic=root / "synthetic",
                       out=root / out, **kw)  # fmt: skip


def test_each_planted_transform_is_found(cxr_dir, tmp_path):
    planted = make_sets(cxr_dir, tmp_path)
    audit(_cfg(tmp_path))  # feature=copy is the default
    rows = {r["synthetic"]: r for r in _rows(tmp_path / "audit" / "neighbours.csv")}
    for name, (src, kind) in planted.items():
        row = rows[name]
        assert row["flagged"] == "1", (kind, row)
        assert row["train"] == src, (kind, row)
        assert row["mirrored"] == ("1" if kind == "mirror" else "0"), (kind, row)
    new_flagged = sum(r["flagged"] == "1" for n, r in rows.items() if n.startswith("new-"))
    assert new_flagged <= 1  # 30 new films, expected 0.3 at the 99th percentile
    found = json.loads((tmp_path / "audit" / "findings.json").read_text())
    copies = found["all"]["synthetic_copies"]
    assert copies["count"] == len(planted) + new_flagged and copies["n"] == len(rows)
    assert found["all"]["training_images_copied"]["count"] >= len(planted)
    lo, hi = copies["ci95"]
    assert lo < copies["share"] < hi
    # A mirrored pair's sheet shows the training film mirrored.
    top = _rows(tmp_path / "audit" / "pairs.csv")
    assert any(r["mirrored"] == "1" for r in top)
    assert "(mirrored)" in (tmp_path / "audit" / "pairs.html").read_text()


def test_copy_detector_is_deterministic(cxr_dir, tmp_path):
    make_sets(cxr_dir, tmp_path, seed=3)
    again = tmp_path / "again"
    make_sets(cxr_dir, again, seed=3)  # the same seed plants the same files
    audit(_cfg(tmp_path))
    audit(_cfg(again))
    for name in ("neighbours.csv", "pairs.csv", "findings.json"):
        assert (tmp_path / "audit" / name).read_bytes() == (again / "audit" / name).read_bytes()


def test_mode_collapse_counts_duplicates_among_samples(cxr_dir, tmp_path):
    make_sets(cxr_dir, tmp_path, seed=5)
    # Two near-copies of one new film: a group of three among the samples.
    first = read_gray(tmp_path / "synthetic" / "new-000.png")
    write_png(tmp_path / "synthetic" / "dup-a.png", plant(first, "shift", 1))
    write_png(tmp_path / "synthetic" / "dup-b.png", plant(first, "mirror", 2))
    audit(_cfg(tmp_path))
    found = json.loads((tmp_path / "audit" / "findings.json").read_text())
    dups = _rows(tmp_path / "audit" / "synthetic_duplicates.csv")
    group = {r["group"] for r in dups if r["synthetic"] == "dup-a.png"}
    members = {r["synthetic"] for r in dups if r["group"] in group}
    assert {"new-000.png", "dup-a.png", "dup-b.png"} <= members
    collapse = found["mode_collapse"]
    assert collapse["distinct_images"] < collapse["n_synthetic"]


def test_duplicate_in_held_out_set_moves_threshold_at_most_one_rank(cxr_dir, tmp_path):
    make_sets(cxr_dir, tmp_path, seed=6)
    audit(_cfg(tmp_path))
    base = json.loads((tmp_path / "audit" / "calibration.json").read_text())
    # A re-windowed copy of a training film slips into the held-out set (no pixel match).
    write_png(
        tmp_path / "val" / "zz-dup.png",
        plant(read_gray(tmp_path / "train" / "000007.png"), "window", 9),
    )
    audit(_cfg(tmp_path, "audit-dup"))
    dup = json.loads((tmp_path / "audit-dup" / "calibration.json").read_text())
    scores = sorted(float(r["score"]) for r in _val_scores(tmp_path / "audit"))
    rank = sum(s < base["threshold_similarity"] for s in scores)
    upper = scores[rank + 1] if rank + 1 < len(scores) else 1.0
    assert dup["threshold_similarity"] <= np.nextafter(np.float32(upper), np.float32(2))
    assert dup["threshold_similarity"] < 0.999  # never pushed to an exact-copy level
    assert [d["val"] for d in dup["val_dropped_as_near_copies"]] == ["zz-dup.png"]


def _val_scores(audit_dir: Path) -> list[dict]:
    cal = json.loads((audit_dir / "calibration.json").read_text())
    return [{"score": s} for s in cal["val_scores"]]


def test_audit_refuses_a_leaking_held_out_set(cxr_dir, tmp_path):
    make_sets(cxr_dir, tmp_path, seed=7)
    shutil.copy(tmp_path / "train" / "000003.png", tmp_path / "val" / "leak.png")
    with pytest.raises(RadsynthError, match="shares 1 image"):
        audit(_cfg(tmp_path))
    (tmp_path / "val" / "leak.png").unlink()
    mirrored = read_gray(tmp_path / "train" / "000004.png")[:, ::-1]
    write_png(tmp_path / "val" / "leak-m.png", mirrored)
    with pytest.raises(RadsynthError, match="mirrored"):
        audit(_cfg(tmp_path))
    (tmp_path / "val" / "leak-m.png").unlink()
    # Patient ids from an ingest manifest: one patient on both sides.
    lines = ["image,group"] + [f"train/{i:06d}.png,p{i}" for i in range(N_TRAIN)]
    lines += [f"val/{i:06d}.png,q{i}" for i in range(N_VAL - 1)] + [f"val/{N_VAL - 1:06d}.png,p0"]
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(RadsynthError, match="patient id"):
        audit(_cfg(tmp_path, groups=tmp_path / "manifest.csv"))
    assert not (tmp_path / "audit").exists()  # refused before writing anything


def test_audit_one_line_errors(cxr_dir, tmp_path):
    make_sets(cxr_dir, tmp_path, seed=8)
    args = ["audit", "--train", str(tmp_path / "train"), "--val", str(tmp_path / "val"),
            "--synthetic", str(tmp_path / "synthetic"), "--out", str(tmp_path / "o")]  # fmt: skip
    with pytest.raises(RadsynthError, match="at least 200 are needed"):
        audit(AuditConfig(**{**_cfg(tmp_path).__dict__, "flag_percentile": 99.5}))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RadsynthError, match="no PNG images found in the synthetic folder"):
        audit(AuditConfig(**{**_cfg(tmp_path).__dict__, "synthetic": tmp_path / "empty"}))
    assert main([*args, "--flag-percentile", "99.5"]) == 2
    assert not (tmp_path / "o").exists()


def test_reviewer_verdicts_and_classes(cxr_dir, tmp_path):
    imgs = _films(cxr_dir, 60, seed=11)
    for i in range(20):  # two classes of training films
        write_png(tmp_path / "train" / ("A" if i < 10 else "B") / f"{i:03d}.png", imgs[i])
    for i in range(20, 40):
        write_png(tmp_path / "val" / f"{i:03d}.png", imgs[i])
    for i in range(40, 50):
        write_png(tmp_path / "synthetic" / "A" / f"new-{i}.png", imgs[i])
    write_png(tmp_path / "synthetic" / "A" / "mem-1.png", plant(imgs[1], "mirror", 0))
    write_png(tmp_path / "synthetic" / "B" / "mem-12.png", plant(imgs[12], "shift", 0))
    write_png(tmp_path / "synthetic" / "B" / "mem-13.png", plant(imgs[13], "noise", 0))
    base = {"flag_percentile": 95.0, "class_folders": True, "synthetic_duplicates": False}
    audit(_cfg(tmp_path, **base))
    found = json.loads((tmp_path / "audit" / "findings.json").read_text())
    flagged = {
        r["synthetic"] for r in _rows(tmp_path / "audit" / "neighbours.csv") if r["flagged"] == "1"
    }
    assert {"A/mem-1.png", "B/mem-12.png", "B/mem-13.png"} <= flagged
    assert found["class:B"]["synthetic_copies"]["n"] == 2
    assert found["class:B"]["training_images_copied"]["n"] == 10  # class B training films
    # The reviewers overrule one flag (not a copy) and confirm one unflagged pair.
    review = tmp_path / "review"
    review.mkdir()
    unflagged = sorted(
        {r["synthetic"] for r in _rows(tmp_path / "audit" / "neighbours.csv")} - flagged
    )[0]
    (review / "audit_adjudication.csv").write_text(
        "rank,synthetic,train,similarity,flagged,reviewers,verdicts,final,status\n"
        "1,B/mem-13.png,B/013.png,1,1,a;b,a=not;b=not,not,agreed\n"
        f"2,{unflagged},A/000.png,0.5,0,a;b,a=memorized;b=memorized,memorized,agreed\n"
    )
    audit(_cfg(tmp_path, "audit-reviewed", review=review, **base))
    after = json.loads((tmp_path / "audit-reviewed" / "findings.json").read_text())
    assert after["all"]["synthetic_copies"]["count"] == found["all"]["synthetic_copies"]["count"]
    assert (
        after["class:B"]["synthetic_copies"]["count"]
        == found["class:B"]["synthetic_copies"]["count"] - 1
    )
    assert after["n_reviewer_verdicts"] == 2
