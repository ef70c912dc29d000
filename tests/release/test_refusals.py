"""Every refusal: one line naming the problem and the file, and nothing written."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from release_setup import REVIEWER, do_release, read_csv
from review_helpers import review_client

from radsynth.errors import RadsynthError


def _kept(run: Path) -> list[str]:
    """Images the reviewer kept (what the release holds), as <checkpoint>/<seed>.png."""
    rows = read_csv(run / "review" / "screen_decisions.csv")
    return [r["image"] for r in rows if r["final"] == "keep"]


def _reaudit(run: Path, image: str) -> None:
    """Record the current bytes of ``image`` in the audit's manifest, as if the audit ran on
    them, so that only the check under test can fire."""
    path = run / "audit" / "manifest.json"
    manifest = json.loads(path.read_text())
    digest = hashlib.sha256((run / "samples" / image).read_bytes()).hexdigest()
    for item in manifest["inputs"]:
        if item["path"].endswith(image):
            item["sha256"] = digest
    path.write_text(json.dumps(manifest))


def _refused(run: Path, tmp_path: Path, **fields) -> str:
    out = tmp_path / "out" / "release"
    with pytest.raises(RadsynthError) as info:
        do_release(run, out, **fields)
    message = str(info.value)
    assert "\n" not in message and message.startswith("release refused, nothing written")
    assert not (tmp_path / "out").exists(), "a refused release left files behind"
    return message


@pytest.mark.parametrize("mirrored", [False, True])
def test_a_training_image_in_the_kept_set_is_refused(run_copy, tmp_path, mirrored) -> None:
    image = _kept(run_copy)[1]
    train = sorted((run_copy / "data" / "train").glob("*.png"))[5]
    with Image.open(train) as img:
        planted = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirrored else img.copy()
    planted.save(run_copy / "samples" / image)
    _reaudit(run_copy, image)
    message = _refused(run_copy, tmp_path)
    assert "identical pixels" in message
    assert f"{Path(image).name}={train.name}" in message
    # The orient stage may flip the planted image; either way the mirror check catches it.


def test_a_png_text_chunk_is_refused(run_copy, tmp_path) -> None:
    image = _kept(run_copy)[0]
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "scanned at St Elsewhere")
    with Image.open(run_copy / "samples" / image) as img:
        img.save(run_copy / "samples" / image, pnginfo=info)
    _reaudit(run_copy, image)
    message = _refused(run_copy, tmp_path)
    assert f"metadata inside ({image}: tEXt)" in message


def test_a_source_file_name_in_a_sidecar_is_refused(run_copy, tmp_path) -> None:
    image = _kept(run_copy)[2]
    source = read_csv(run_copy / "data" / "manifest.csv")[17]["source_path"]
    sidecar = run_copy / "samples" / Path(image).parent / "meta" / f"{Path(image).stem}.json"
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "note": f"conditioned on {source}"}))
    message = _refused(run_copy, tmp_path)
    assert f"source name(s) or patient id(s) in the release ({source.lower()} ({image}))" in message


def test_a_source_name_on_the_card_is_refused(run_copy, tmp_path) -> None:
    source = read_csv(run_copy / "data" / "manifest.csv")[3]["source_path"]
    message = _refused(run_copy, tmp_path, name=f"Phantoms like {source}")
    assert "(README.md)" in message and source.lower() in message


def test_samples_changed_after_the_audit_are_refused(run_copy, tmp_path) -> None:
    image = _kept(run_copy)[0]
    path = run_copy / "samples" / image
    with Image.open(path) as img:
        img.load()
        img.putpixel((0, 0), (img.getpixel((0, 0)) + 1) % 256)
        img.save(path)
    message = _refused(run_copy, tmp_path)
    assert "changed after the audit" in message and f"generated) ({image})" in message


@pytest.mark.parametrize("stage", ["audit", "screen"])
def test_a_stage_that_has_not_run_is_refused(run_copy, tmp_path, stage) -> None:
    (run_copy / stage / "manifest.json").unlink()
    assert f"the {stage} has not run" in _refused(run_copy, tmp_path)


def test_a_flagged_image_needs_a_not_a_copy_verdict(run_copy, tmp_path) -> None:
    image = _kept(run_copy)[0]
    path = run_copy / "audit" / "neighbours.csv"
    rows = list(csv.DictReader(path.open(newline="")))
    for row in rows:
        row["flagged"] = "1" if row["synthetic"] == image else row["flagged"]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    message = _refused(run_copy, tmp_path)
    assert f"not adjudicated 'not a copy' on the review page ({image})" in message
    # Two reviewers agree it is not a copy: now it may go out.
    client = review_client(run_copy / "review", None, run_copy / "audit")
    for who in (REVIEWER, "bob"):
        data = {"reviewer": who, "synthetic": image, "verdict": "not"}
        assert client.post("/audit/decide", data=data).status_code == 200
    do_release(run_copy, tmp_path / "ok")
    row = next(r for r in read_csv(tmp_path / "ok" / "metadata.csv") if r["audit_flagged"] == "1")
    assert row["audit_verdict"] == "not"
    assert "1 of them are released" in (tmp_path / "ok" / "README.md").read_text()


def test_an_unknown_source_licence_is_refused_unless_stated(run_copy, tmp_path) -> None:
    path = run_copy / "data" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["config"]["source_licence"] = None
    manifest["source_licence"] = None
    path.write_text(json.dumps(manifest))
    assert "licence is unknown" in _refused(run_copy, tmp_path)
    do_release(run_copy, tmp_path / "ok", source_licence="CC-BY-4.0")
    assert "Training data: CC-BY-4.0" in (tmp_path / "ok" / "README.md").read_text()


def test_every_problem_is_named_in_the_one_line(run_copy, tmp_path) -> None:
    first, second = _kept(run_copy)[:2]
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "x")
    for image in (first, second):
        with Image.open(run_copy / "samples" / image) as img:
            img.save(run_copy / "samples" / image, pnginfo=info)
    message = _refused(run_copy, tmp_path)
    assert "2 image(s) with metadata inside" in message
    assert "2 image(s) changed after the audit" in message


def test_an_agreed_memorized_copy_is_left_out_not_refused(run_copy, tmp_path) -> None:
    image = _kept(run_copy)[0]
    client = review_client(run_copy / "review", None, run_copy / "audit")
    for who in (REVIEWER, "bob"):
        data = {"reviewer": who, "synthetic": image, "verdict": "memorized"}
        assert client.post("/audit/decide", data=data).status_code == 200
    do_release(run_copy, tmp_path / "out")
    table = read_csv(tmp_path / "out" / "table_s1.csv")[-1]
    assert table["excluded_as_copy"] == "1"
    assert len(read_csv(tmp_path / "out" / "metadata.csv")) == len(_kept(run_copy)) - 1


def test_a_truncated_sample_is_refused_in_one_line(run_copy, tmp_path) -> None:
    image = _kept(run_copy)[0]
    path = run_copy / "samples" / image
    path.write_bytes(path.read_bytes()[:60])
    _reaudit(run_copy, image)
    assert f"1 unreadable image(s) ({image}: truncated PNG file)" in _refused(run_copy, tmp_path)
