"""Helpers shared by the reader-study tests (imported by module name, like conftest)."""

from __future__ import annotations

import csv
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
