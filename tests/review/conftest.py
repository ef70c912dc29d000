"""Fixtures for the review-page tests: a real screen and audit (phantoms), a real ingest with
films kept out for review (phantom PNGs), the PostgreSQL server and the Chromium of the
reader-study tests (reused from ``tests/study/conftest.py``, not copied)."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from review_helpers import free_port

from radsynth.audit.audit import AuditConfig, audit
from radsynth.data.imageio import read_gray, write_png
from radsynth.data.ingest import IngestConfig, ingest
from radsynth.review.app import create_app, open_context
from radsynth.review.queues import load_queues
from radsynth.screening.screen import ScreenConfig, screen

STUDY_TESTS = Path(__file__).parents[1] / "study"


def _study_fixtures():  # noqa: ANN202
    """tests/study/conftest.py as a module (it imports its helpers by module name)."""
    sys.path.insert(0, str(STUDY_TESTS))
    spec = importlib.util.spec_from_file_location("study_conftest", STUDY_TESTS / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_study = _study_fixtures()
pg_server = _study.pg_server


@pytest.fixture(scope="session")
def chromium() -> dict:
    """Launch options of the study's browser tests (the system Chromium, its flags); skips
    (fails under CI) where Chromium is not installed."""
    path = _study.require(_study.find_chromium(), "Chromium")
    return {"executable_path": str(path), "headless": True, "args": _study.CHROMIUM_ARGS}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """None for OUT/review.db, or a fresh database on the study tests' PostgreSQL server."""
    if request.param == "sqlite":
        return None
    import psycopg

    base = request.getfixturevalue("pg_server")
    name = "review_" + uuid.uuid4().hex[:12]
    with psycopg.connect(base.replace("+psycopg", "") + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def reference_phantoms(tmp_path_factory) -> Path:
    """200 plausible phantoms (seed 10): the screen's real stand-ins."""
    from radsynth.data.phantoms import PhantomConfig, make_phantoms

    out = tmp_path_factory.mktemp("phantoms") / "reference"
    make_phantoms(PhantomConfig(out=out, n=200, size_px=64, seed=10, implausible_fraction=0.0,
                                negative_fraction=0.0, right_facing_fraction=0.5,
                                contact_sheet_n=0))  # fmt: skip
    return out


@pytest.fixture(scope="session")
def outputs(reference_phantoms, tmp_path_factory) -> dict[str, Path]:
    """A real screen folder (24 phantoms, half implausible), a real audit folder (top 5 pairs,
    one an exact copy of a training image) and a real ingest folder whose 6 PNG films all went
    to review (a collection under 30 films decides polarity by the cue, confidence below 1)
    while its DICOM (polarity from the header) was kept."""
    from radsynth.data.phantoms import PhantomConfig, make_phantoms

    root = tmp_path_factory.mktemp("review")
    labelled = root / "labelled"
    make_phantoms(PhantomConfig(out=labelled, n=24, size_px=64, seed=11, implausible_fraction=0.5,
                                negative_fraction=0.0, right_facing_fraction=0.5,
                                contact_sheet_n=0))  # fmt: skip
    src = root / "oriented" / "step-1"
    src.mkdir(parents=True)
    for p in sorted((labelled / "images").glob("*.png")):
        (src / p.name).write_bytes(p.read_bytes())
    ref = sorted((reference_phantoms / "images").glob("*.png"))
    for folder, chunk in (("train", ref[:30]), ("val", ref[30:60])):
        (root / folder).mkdir()
        for p in chunk:
            (root / folder / p.name).write_bytes(p.read_bytes())
    (src / "copy.png").write_bytes(ref[3].read_bytes())
    screen(ScreenConfig(src=root / "oriented", out=root / "screen",
                        reference=reference_phantoms / "images", frr=0.1))  # fmt: skip
    audit(AuditConfig(train=root / "train", val=root / "val", synthetic=root / "oriented",
                      out=root / "audit", top_k=5, flag_percentile=95.0))  # fmt: skip
    films = root / "films"
    films.mkdir()
    for i, p in enumerate(ref[60:66]):
        img = read_gray(p)
        write_png(films / f"film-{i}.png", 1.0 - img if i == 1 else img)  # film-1 a negative
    # A real CR DICOM: its header decides the polarity, so it is kept (ingest needs one film).
    dicom = pytest.importorskip("pydicom.data").get_testdata_file("RG3_UNCR.dcm")
    (films / "cr.dcm").write_bytes(Path(dicom).read_bytes())
    ingest(IngestConfig(src=films, out=root / "data", size_px=64, val_fraction=0.0,
                        review_below=1.0))  # fmt: skip
    return {"screen": root / "screen", "audit": root / "audit", "data": root / "data",
            "films": films, "root": root}  # fmt: skip


@pytest.fixture
def live_review(outputs, tmp_path):  # noqa: ANN201
    """``live_review(db=None)`` -> (url, review folder): the review app over all three queues
    under uvicorn in a thread, on a free port; stopped after the test."""
    import uvicorn

    started = []

    def start(db: str | None = None) -> tuple[str, Path]:
        queues = load_queues(outputs["screen"], outputs["audit"], outputs["data"])
        ctx = open_context(queues, tmp_path / "review", db)
        port = free_port()
        config = uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port,
                                log_level="warning")  # fmt: skip
        srv = uvicorn.Server(config)
        thread = threading.Thread(target=srv.run, daemon=True)
        thread.start()
        started.append((srv, thread, ctx))
        deadline = time.monotonic() + 20
        while not srv.started:
            assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{port}", ctx.out

    yield start
    for srv, thread, ctx in started:
        srv.should_exit = True
        thread.join(10)
        ctx.engine.dispose()
