"""A review-page client for tests in any folder: real HTTP requests through the real app, each
POST carrying the form token and the ``seen`` id the page would have given it.

Imported by module name (``tests/`` is on ``sys.path`` through the root conftest).
"""

from __future__ import annotations

import csv
import socket
from pathlib import Path

import httpx
import numpy as np
from fastapi.testclient import TestClient

from radsynth.review import service as svc
from radsynth.review.app import ReviewContext, create_app, open_context
from radsynth.review.queues import load_queues
from radsynth.study.security import form_token


class ReviewClient:
    """``TestClient`` over the review app whose ``post`` fills in what the page's form holds."""

    def __init__(self, ctx: ReviewContext) -> None:
        self.ctx = ctx
        self.http = TestClient(create_app(ctx))

    def get(self, url: str, **kw) -> httpx.Response:
        return self.http.get(url, **kw)

    def seen(self, path: str, data: dict[str, str]) -> str:
        """The id of the latest decision on the item, as the page shows it (0 for none)."""
        with self.ctx.read() as s:
            if path == "/screen/decide":
                past = svc.screen_history(s).get(data.get("image", ""), [])
            else:
                past = svc.ingest_history(s).get(data.get("source_path", ""), [])
        return str(past[-1].id if past else 0)

    def post(self, path: str, data: dict[str, str], **kw) -> httpx.Response:
        form = {"csrf": form_token(self.ctx.secret, path), **data}
        if path in ("/screen/decide", "/ingest/decide") and "seen" not in data:
            form["seen"] = self.seen(path, data)
        return self.http.post(path, data=form, **kw)

    def close(self) -> None:
        self.http.close()
        self.ctx.engine.dispose()


def review_client(
    out: Path, screen: Path | None = None, audit: Path | None = None,
    ingest: Path | None = None, db: str | None = None,
) -> ReviewClient:  # fmt: skip
    """Open the review folder ``out`` over the given stage folders (like ``radsynth review``)."""
    return ReviewClient(open_context(load_queues(screen, audit, ingest), out, db))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def rotate_suggestion(data: Path, source: str, degrees: int) -> None:
    """Set one review.csv row's suggested rotation, as the collection's checks would have for a
    film they thought stored turned (the <30-film cue never checks rotation)."""
    rows = read_csv(data / "review.csv")
    assert any(r["source_path"] == source for r in rows)
    for r in rows:
        if r["source_path"] == source:
            r["suggested_rotation_deg"] = str(degrees)
    with open(data / "review.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def same_pixels(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to one 8-bit step."""
    return a.shape == b.shape and float(np.abs(a - b).max()) <= 1.5 / 255


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
