"""Helpers shared by the reader-study tests (imported by module name, like conftest)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def answer_body(item: dict, version: int | None = None, pick: int = 0, rating: int = 3) -> dict:
    """A valid JSON submission for a quartet item view from the API."""
    ids = item["image_ids"]
    return {
        "version": item["version"] if version is None else version,
        "picked": ids[pick],
        "ratings": dict.fromkeys(ids, rating),
    }


def start(client, token: str, **body) -> str:  # noqa: ANN001
    """Read the instructions (and consent/questionnaire when given) through the JSON API."""
    r = client.post(f"/api/r/{token}/start", json=body)
    assert r.status_code == 200, r.text
    return r.json()["step"]


def csrf_of(html: str, action: str | None = None) -> str:
    """The form token of a page (of the form posting to ``action`` when given)."""
    import re

    forms = re.findall(
        r'<form[^>]*action="([^"]+)"[^>]*>.*?name="csrf" value="([^"]+)"', html, re.S
    )
    for path, token in forms:
        if action is None or path == action:
            return token
    raise AssertionError(f"no form token for {action} in the page")


def count_responses(url: str) -> tuple[int, int]:
    """(responses, ratings) stored in a study database."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from radsynth.study import db as t

    engine = t.make_engine(url)
    with Session(engine) as s:
        n = s.scalar(select(func.count()).select_from(t.Response))
        m = s.scalar(select(func.count()).select_from(t.Rating))
    engine.dispose()
    return n, m


@dataclass
class StudyRef:
    """What the ``serve`` fixture needs of a study (``conftest.Study`` without importing
    conftest, which resolves to another folder's when several test folders run)."""

    out: Path
    db: str
    tokens: list[str]
    admin: str
