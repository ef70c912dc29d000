"""Fixtures for the reader-study tests: a throwaway PostgreSQL server (the newest installed),
study inputs, and a live uvicorn server in a subprocess (so that tests can kill it)."""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from system_programs import find_chromium, find_pg_bin, require

from radsynth.study.create import CreateStudyConfig, create_study


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*cmd: str) -> None:
    """Run a server command as the postgres user (the server refuses to run as root)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *cmd], check=True, capture_output=True)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """A PostgreSQL server (the newest installed version) on 127.0.0.1, trust auth, for this
    test session; yields its URL. Skips where none is installed, fails under CI=true."""
    pg_bin = require(find_pg_bin(), "a PostgreSQL server (initdb, pg_ctl)")
    data = Path(tempfile.mkdtemp(prefix="radsynth-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    _as_postgres(
        str(pg_bin / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres", "-N"
    )
    opts = f"-h 127.0.0.1 -p {port} -k {data} -c fsync=on"
    _as_postgres(str(pg_bin / "pg_ctl"), "-D", str(data / "db"), "-o", opts, "-w", "-l",
                 str(data / "log"), "start")  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        _as_postgres(str(pg_bin / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(db_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str | None:
    """None for the default SQLite file in the study folder, or a fresh PostgreSQL database."""
    if db_kind == "sqlite":
        return None
    import psycopg

    base = request.getfixturevalue("pg_server")
    name = "study_" + uuid.uuid4().hex[:12]
    with psycopg.connect(base.replace("+psycopg", "") + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def synthetic_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three folders of generated grey images (smooth blobs, different per set), 224 x 224."""
    root = tmp_path_factory.mktemp("synthetic")
    dirs = {}
    for k, name in enumerate(["ckA", "ckB", "ckC"]):
        folder = root / name
        folder.mkdir()
        rng = np.random.default_rng(k)
        for i in range(12):
            small = rng.random((14, 14)).astype(np.float32)
            img = Image.fromarray(small, mode="F").resize((224, 224), Image.Resampling.BICUBIC)
            arr = np.clip(np.asarray(img) * (0.5 + 0.2 * k), 0, 1)
            Image.fromarray((arr * 255).astype(np.uint8)).save(folder / f"{i:06d}.png")
        dirs[name] = folder
    return dirs


@dataclass
class Study:
    out: Path
    db: str  # resolved URL
    tokens: list[str]  # rater tokens in links.csv order
    admin: str


def make_study(out: Path, real: Path, synthetic: dict[str, Path], db: str | None, **kw) -> Study:
    """Create a study and read back its links and admin token."""
    cfg = CreateStudyConfig(
        out=out, real=real, synthetic=tuple(f"{k}={v}" for k, v in synthetic.items()), db=db,
        **{"items": 4, "raters": 2, **kw},
    )  # fmt: skip
    create_study(cfg)
    with open(out / "links.csv") as fh:
        tokens = [row["url"].rsplit("/", 1)[1] for row in csv.DictReader(fh)]
    admin = (out / "admin.txt").read_text().split()[1]
    return Study(out, db or f"sqlite:///{out / 'study.db'}", tokens, admin)


@pytest.fixture
def study_factory(tmp_path: Path, cxr_dir: Path, synthetic_dirs, db_url):  # noqa: ANN001, ANN201
    """``study_factory(**create_kwargs)`` -> Study on the parametrised database."""
    counter = iter(range(100))

    def make(**kw) -> Study:
        return make_study(tmp_path / f"study{next(counter)}", cxr_dir, synthetic_dirs, db_url, **kw)

    return make


class LiveServer:
    """``radsynth study serve`` in a subprocess on a free localhost port."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> LiveServer:
        cmd = [sys.executable, "-m", "radsynth.cli", "study", "serve", str(self.study.out),
               "--port", str(self.port), "--db", self.study.db]  # fmt: skip
        self.log = open(self.study.out / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.study.out / self.log.name).read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError("server did not start in 30 s")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing; what was committed must survive."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


class ThreadServer:
    """The app under uvicorn in a thread of this process: the same server, without the ~1.5 s
    interpreter start of a subprocess (which only the kill/restart test needs)."""

    def __init__(self, study: Study) -> None:
        import uvicorn

        from radsynth.study.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(study.db)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, access_log=False,
                                log_level="warning")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server thread did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.app.state.engine.dispose()


@pytest.fixture
def serve():  # noqa: ANN201
    """``serve(study)`` -> a started server in a thread; ``serve(study, subprocess=True)`` ->
    a LiveServer subprocess. All are stopped after the test."""
    servers: list = []

    def start(study: Study, subprocess: bool = False):  # noqa: ANN202
        server = LiveServer(study) if subprocess else ThreadServer(study)
        servers.append(server.start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser():  # noqa: ANN201
    """The system's headless Chromium driven by Playwright, shared by the browser tests.
    Skips where none is installed, fails under CI=true."""
    chromium = require(find_chromium(), "Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
