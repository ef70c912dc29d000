"""``radsynth bench study``: requests/s and latency of the study server under N concurrent raters.

Creates a throwaway quartet study from generated images (no data needed), serves it with
``radsynth study serve`` in its own process on 127.0.0.1 only, and lets ``raters`` closed-loop
raters (threads here) each answer ``screens`` screens the way a browser does: the item page,
its four images, a think time drawn uniformly from ``[think_min_s, think_max_s]`` (0 and 0: the
server's ceiling), then the form POST. Each rater first reads the instructions page and posts
it; raters start after one think time each, so they do not all arrive in the same millisecond.
Prints requests/s, p50/p95 latency (all requests and POSTs alone) and the server's CPU time per
request, and checks the database afterwards: every rater's every screen stored exactly once.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.stage import StageResult


@dataclass(frozen=True)
class BenchStudyConfig:
    """Load-test the reader-study server on 127.0.0.1 and print requests/s and latency."""

    raters: int = arg(50, help="concurrent raters")
    screens: int = arg(10, help="screens each rater answers")
    think_min_s: float = arg(1.0, help="shortest think time per screen in seconds")
    think_max_s: float = arg(3.0, help="longest think time per screen (0 and 0: no think time)")
    db: str | None = arg(None, help="empty database URL; default a SQLite file in a temp folder")
    size_px: int = arg(224, help="side of the served images in pixels")
    seed: int = arg(0, help="seed of the generated images and think times")


def _images(folder: Path, n: int, size_px: int, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        small = rng.random((12, 12)).astype(np.float32)
        img = Image.fromarray(small, mode="F").resize((size_px, size_px), Image.Resampling.BICUBIC)
        Image.fromarray((np.clip(np.asarray(img), 0, 1) * 255).astype(np.uint8)).save(
            folder / f"{i:04d}.png"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rater(url: str, token: str, cfg: BenchStudyConfig, seed: int, log: list) -> None:
    import httpx

    rng = np.random.default_rng(seed)
    # Raters arrive spread over one think time, as people do (0: all at once, the worst burst).
    time.sleep(float(rng.uniform(cfg.think_min_s, cfg.think_max_s)))
    with httpx.Client(base_url=url, timeout=120) as c:

        def timed(kind: str, method: str, path: str, **kw) -> httpx.Response:
            start = time.perf_counter()
            r = c.request(method, path, **kw)
            log.append((kind, time.perf_counter() - start, r.status_code))
            return r

        page = timed("get", "GET", f"/r/{token}/instructions").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        timed("post", "POST", f"/r/{token}/instructions", data={"csrf": csrf})
        for seq in range(1, cfg.screens + 1):
            page = timed("get", "GET", f"/r/{token}/item/{seq}").text
            ids = list(dict.fromkeys(re.findall(r'name="rating_([0-9a-f]+)"', page)))
            for image_id in ids:
                timed("image", "GET", f"/r/{token}/img/{image_id}")
            time.sleep(float(rng.uniform(cfg.think_min_s, cfg.think_max_s)))
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            form = {
                "version": "0",
                "csrf": csrf,
                "pick": ids[int(rng.integers(len(ids)))],
                **{f"rating_{i}": str(int(rng.integers(1, 5))) for i in ids},
            }
            timed("post", "POST", f"/r/{token}/item/{seq}", data=form)


def _count(url: str) -> tuple[int, int]:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from radsynth.study import db as t

    engine = t.make_engine(url)
    with Session(engine) as s:
        n = s.scalar(select(func.count()).select_from(t.Response))
        keys = s.scalar(
            select(func.count()).select_from(
                select(t.Response.rater_id, t.Response.seq).distinct().subquery()
            )
        )
    engine.dispose()
    return n, keys


def bench_study(cfg: BenchStudyConfig) -> StageResult:
    """Run the load test (see module docstring) and print its figures."""
    import httpx

    from radsynth.study.create import CreateStudyConfig, create_study

    # httpx logs every request at INFO, URL and invitation token included.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if cfg.raters < 1 or cfg.screens < 1 or not 0 <= cfg.think_min_s <= cfg.think_max_s:
        raise RadsynthError("--raters and --screens must be >= 1, 0 <= think min <= think max")
    with tempfile.TemporaryDirectory(prefix="radsynth-bench-study-") as tmp:
        root, rng = Path(tmp), np.random.default_rng(cfg.seed)
        for name in ("real", "A", "B", "C"):
            _images(root / name, cfg.screens, cfg.size_px, rng)
        syn = tuple(f"{g}={root / g}" for g in "ABC")
        port = _free_port()
        create_study(
            CreateStudyConfig(
                out=root / "study",
                real=root / "real",
                synthetic=syn,
                items=cfg.screens,
                raters=cfg.raters,
                db=cfg.db,
                base_url=f"http://127.0.0.1:{port}",
            )
        )
        url = cfg.db or f"sqlite:///{root / 'study' / 'study.db'}"
        tokens = [
            line.rsplit("/", 1)[1]
            for line in (root / "study" / "links.csv").read_text().splitlines()[1:]
        ]
        cmd = [
            sys.executable,
            "-m",
            "radsynth.cli",
            "study",
            "serve",
            str(root / "study"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(base + "/", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RadsynthError("the study server did not start") from None
                    time.sleep(0.1)
            log: list = []
            start = time.perf_counter()
            with ThreadPoolExecutor(cfg.raters) as pool:
                jobs = [
                    pool.submit(_rater, base, tok, cfg, cfg.seed * 100003 + i, log)
                    for i, tok in enumerate(tokens)
                ]
                for job in jobs:
                    job.result()
            wall = time.perf_counter() - start
        finally:
            server.terminate()
            _, _, usage = os.wait4(server.pid, 0)
        server_cpu_s = usage.ru_utime + usage.ru_stime
        stored, keys = _count(url)
    lat = np.array([x[1] for x in log]) * 1000
    post = np.array([x[1] for x in log if x[0] == "post"]) * 1000
    bad = sum(1 for x in log if x[2] >= 400)
    expected = cfg.raters * cfg.screens
    lines = [
        f"bench study: {cfg.raters} raters x {cfg.screens} screens, think "
        f"{cfg.think_min_s:g}-{cfg.think_max_s:g} s, {'PostgreSQL' if cfg.db else 'SQLite'}",
        f"  {len(log)} requests in {wall:.1f} s = {len(log) / wall:.1f} requests/s; "
        f"{bad} answered 4xx/5xx",
        f"  all requests: p50 {np.percentile(lat, 50):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms",
        f"  POSTs: p50 {np.percentile(post, 50):.1f} ms, p95 {np.percentile(post, 95):.1f} ms",
        f"  server CPU {server_cpu_s:.1f} s (start-up included) = "
        f"{1000 * server_cpu_s / len(log):.2f} ms per request",
        f"  answers stored {stored} of {expected}: lost {expected - keys}, "
        f"duplicated {stored - keys}",
    ]
    print("\n".join(lines))
    return StageResult(Path("."), f"p95 {np.percentile(lat, 95):.1f} ms over {len(log)} requests")
