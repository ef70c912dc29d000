"""The source radiographs are part of ingest's cache key: adding or changing one re-runs ingest;
touching one without changing it does not (its content hash decides, cached by size and mtime)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from radsynth.config import build_config
from radsynth.data.ingest import IngestConfig, ingest
from radsynth.layout import RunLayout
from radsynth.pipeline.inputs import folder_digest
from radsynth.pipeline.steps import Step, run_step


def _film(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:48, 0:40]
    img = 120 + 60 * np.sin(x / (3 + seed % 5)) + 30 * rng.standard_normal((48, 40))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)


def _ingest(src: Path, run: Path) -> str:
    out = run / "data"
    # The stand-in films are noise, whose polarity no check can be sure of: keep them all.
    user = {"size_px": 16, "val_fraction": 0.25, "review_below": 0.0}
    cfg = build_config(IngestConfig, user, {"src": src, "out": out})
    step = Step("ingest", ingest, cfg, out, after=["phantoms"], inputs=[src])
    return run_step(step, run, {}, absent={"phantoms"}).status


def _n_ingested(run: Path) -> int:
    return len((run / "data" / "manifest.csv").read_text().splitlines()) - 1


def test_source_changes_rerun_ingest_and_a_touch_does_not(tmp_path: Path) -> None:
    src, run = tmp_path / "films", tmp_path / "run"
    src.mkdir()
    for k in range(6):
        _film(src / f"{k}.png", k)
    assert _ingest(src, run) == "ran" and _n_ingested(run) == 6
    assert _ingest(src, run) == "cached"

    _film(src / "6.png", 6)  # a new radiograph
    assert _ingest(src, run) == "ran" and _n_ingested(run) == 7
    assert _ingest(src, run) == "cached"

    before = (src / "2.png").stat()
    _film(src / "2.png", 20)  # a changed radiograph
    assert _ingest(src, run) == "ran"

    os.utime(src / "3.png", ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))  # touched only
    assert _ingest(src, run) == "cached"


def test_same_size_change_is_seen(tmp_path: Path) -> None:
    """A change that keeps the size is found by its content hash; hidden files do not count."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.dcm").write_bytes(b"A" * 100)
    cache = RunLayout(tmp_path).hash_cache
    first = folder_digest(src, cache)
    st = (src / "a.dcm").stat()
    (src / "a.dcm").write_bytes(b"B" * 100)
    os.utime(src / "a.dcm", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert folder_digest(src, cache) != first
    (src / ".DS_Store").write_bytes(b"x")  # hidden files are not read by ingest, nor hashed
    (src / "a.dcm").write_bytes(b"A" * 100)
    assert folder_digest(src, cache) == first


def test_hash_cache_is_used_while_size_and_mtime_match(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(b"abc")
    cache = RunLayout(tmp_path).hash_cache
    first = folder_digest(src, cache)
    data = json.loads(cache.read_text())
    (entry,) = data[str(src.resolve())].values()
    assert entry["size"] == 3 and entry["mtime_ns"] == (src / "a.png").stat().st_mtime_ns
    entry["sha256"] = "0" * 64  # a cached hash is trusted while (size, mtime) match ...
    cache.write_text(json.dumps(data))
    assert folder_digest(src, cache) != first
    os.utime(src / "a.png", ns=(0, entry["mtime_ns"] + 1))  # ... and re-read once they differ
    assert folder_digest(src, cache) == first
