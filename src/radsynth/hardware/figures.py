"""How a benchmark hands back what it measured: JSON on stdout, and a file when asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from radsynth.stage import atomic_write_text


def emit_figures(figures: dict[str, Any], out: Path | None) -> str:
    """Print a benchmark's measured figures as JSON (and write them to ``out`` when given);
    returns the MFU as text for the summary line."""
    text = json.dumps(figures, indent=2)
    print(text)
    if out is not None:
        atomic_write_text(out, text + "\n")
    mfu = figures.get("mfu")
    return f"{100 * mfu:.2f}%" if mfu is not None else "unknown"
