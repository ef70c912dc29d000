"""Side-by-side pair sheets (PNG) and an HTML table of the audit's top pairs."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from radsynth.data.imageio import read_gray, to_uint
from radsynth.stage import atomic_path, atomic_write_text

SHEET_HEIGHT_PX = 256
HEADER_PX = 22


def _panel(path: Path, height: int) -> Image.Image:
    img = Image.fromarray(to_uint(read_gray(path), 8), mode="L")
    width = max(1, round(img.width * height / img.height))
    return img.resize((width, height), Image.Resampling.LANCZOS)


def pair_sheet(
    synthetic: Path, train: Path, caption: str, dest: Path, mirrored: bool = False
) -> None:
    """Write one PNG: the synthetic image (left) beside its training neighbour (right); a
    neighbour that matched mirrored is shown mirrored, so that the two can be compared."""
    left, right = _panel(synthetic, SHEET_HEIGHT_PX), _panel(train, SHEET_HEIGHT_PX)
    if mirrored:
        right = right.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    gap = 8
    sheet = Image.new("L", (left.width + gap + right.width, SHEET_HEIGHT_PX + HEADER_PX), 255)
    sheet.paste(left, (0, HEADER_PX))
    sheet.paste(right, (left.width + gap, HEADER_PX))
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 5), caption, fill=0)
    label = "training neighbour (shown mirrored)" if mirrored else "training neighbour"
    draw.text((left.width + gap + 4, 5), label, fill=0)
    with atomic_path(dest) as tmp:
        sheet.save(tmp, format="PNG")


def pairs_html(rows: Sequence[dict], sheet_names: Sequence[str], dest: Path, note: str) -> None:
    """Write an HTML page listing the pairs with their sheets (relative links)."""
    lines = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Memorization audit</title>",
        "<style>body{font-family:sans-serif}td,th{padding:4px 8px;border-bottom:1px solid #ddd}"
        ".flag{color:#b00;font-weight:bold}img{height:180px}</style></head><body>",
        "<h1>Memorization audit: top synthetic/training pairs</h1>",
        f"<p>{html.escape(note)}</p>",
        "<table><tr><th>rank</th><th>synthetic</th><th>training</th><th>score</th>"
        "<th>percentile of real held-out NN</th><th>flagged</th><th>pair</th></tr>",
    ]
    for row, sheet in zip(rows, sheet_names, strict=True):
        flag = "<span class='flag'>yes</span>" if int(row["flagged"]) else "no"
        mirror = " (mirrored)" if int(row.get("mirrored", 0)) else ""
        lines.append(
            f"<tr><td>{row['rank']}</td><td>{html.escape(row['synthetic'])}</td>"
            f"<td>{html.escape(row['train'])}{mirror}</td><td>{row['similarity']}</td>"
            f"<td>{row['percentile']}</td><td>{flag}</td>"
            f"<td><img src='{html.escape(sheet)}' alt='pair {row['rank']}'></td></tr>"
        )
    lines.append("</table></body></html>")
    atomic_write_text(dest, "\n".join(lines) + "\n")


def empirical_percentile(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Percentage of ``reference`` strictly below each value (0..100)."""
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    return (
        100.0 * np.searchsorted(ref, np.asarray(values, dtype=np.float64), side="left") / len(ref)
    )
