"""Frozen result records that turn into plain JSON-ready dicts."""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return record_dict(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; null means "not defined" (e.g. R's NaN p-value)
    return value


def record_dict(record: Any) -> dict[str, Any]:
    """A frozen dataclass as a dict of plain Python values (NaN becomes None)."""
    return {f.name: _plain(getattr(record, f.name)) for f in dataclasses.fields(record)}
