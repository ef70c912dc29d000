"""``radsynth review``: a small server-rendered page where people confirm or override the screen's
flags and adjudicate the audit's top pairs.

- Screening: each image of ``screen.csv`` (most implausible first) with its score and automatic
  flag; a reviewer keeps or excludes it. The final decision is the latest one by any reviewer
  (``decided_by`` names them); an image nobody reviewed keeps the automatic decision
  (``decided_by = auto``).
- Audit: each pair of ``pairs.csv`` (the sheet PNG); every reviewer says memorized or not. A pair
  is *agreed* when at least two reviewers gave verdicts and all are the same, a *disagreement*
  when any differ, *pending* otherwise.

Every decision is stored with the reviewer's id and a UTC time in ``review.db`` (SQLite, in the
output folder); after each decision the folder's ``screen_decisions.csv``,
``audit_adjudication.csv`` and ``audit_disagreements.csv`` are rewritten (atomically). This
module imports neither torch nor numpy, like the reader-study app.
"""

from __future__ import annotations

import contextlib
import csv
import html
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Form, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.screening.decisions import (
    AuditVerdict,
    ScreenDecision,
    adjudicate,
    write_audit_verdicts,
    write_screen_decisions,
)
from radsynth.stage import StageResult

REVIEWER_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
PAGE_SIZE = 50
SCHEMA = """
CREATE TABLE IF NOT EXISTS screen_decision (
    id INTEGER PRIMARY KEY AUTOINCREMENT, image TEXT NOT NULL, reviewer TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('keep', 'exclude')), auto_flagged INTEGER NOT NULL,
    decided_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_verdict (
    id INTEGER PRIMARY KEY AUTOINCREMENT, synthetic TEXT NOT NULL, train TEXT NOT NULL,
    reviewer TEXT NOT NULL, verdict TEXT NOT NULL CHECK (verdict IN ('memorized', 'not')),
    decided_at TEXT NOT NULL);
"""


@dataclass(frozen=True)
class ReviewConfig:
    """Serve the review page for a screen folder and/or an audit folder."""

    out: Path = arg(help="review folder: review.db and the decision CSVs", positional=True)
    screen: Path | None = arg(None, help="screen output folder (screen.csv, config.json)")
    audit: Path | None = arg(None, help="audit output folder (pairs.csv, sheets/)")
    host: str = arg("127.0.0.1", help="interface to listen on")
    port: int = arg(8765, help="TCP port")


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise RadsynthError(f"{path} is missing")
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass
class _Data:
    """What the page shows, read once at start-up."""

    out: Path
    screen_rows: list[dict[str, str]]
    screen_images: Path | None  # the folder screen.csv's image paths are relative to
    pairs: list[dict[str, str]]
    audit_dir: Path | None

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success and is always closed."""
        con = sqlite3.connect(self.out / "review.db")
        con.row_factory = sqlite3.Row
        try:
            with con:  # commits, or rolls back on an exception
                yield con
        finally:
            con.close()


def load(out: Path, screen: Path | None, audit: Path | None) -> _Data:
    """Read the screen and audit outputs and create ``out/review.db``."""
    if screen is None and audit is None:
        raise RadsynthError("review needs a screen folder, an audit folder, or both")
    rows, images, pairs = [], None, []
    if screen is not None:
        rows = _read_csv(screen / "screen.csv")
        cfg = json.loads((screen / "config.json").read_text())
        images = Path(cfg["src"])
        if not images.is_dir():
            raise RadsynthError(
                f"the screened images {images} (from {screen / 'config.json'}) are missing; "
                "run review from the folder the screen ran in"
            )
        rows.sort(key=lambda r: (-float(r["score"]), r["image"]))
    if audit is not None:
        pairs = _read_csv(audit / "pairs.csv")
    if out.exists() and not out.is_dir():
        raise RadsynthError(f"output path {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    data = _Data(out, rows, images, pairs, audit)
    with data.connect() as con:
        con.executescript(SCHEMA)
    export(data)
    return data


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------- exports


def screen_final(data: _Data) -> list[ScreenDecision]:
    """Per image: the automatic flag, the final decision and who made it (latest decision)."""
    with data.connect() as con:
        latest = {
            r["image"]: r
            for r in con.execute("SELECT * FROM screen_decision ORDER BY id")  # later rows win
        }
    out = []
    for row in data.screen_rows:
        auto = "exclude" if row["flagged"] == "1" else "keep"
        dec = latest.get(row["image"])
        final, who, when = (
            (dec["decision"], dec["reviewer"], dec["decided_at"]) if dec else (auto, "auto", "")
        )
        out.append(
            ScreenDecision(row["image"], row["group"], float(row["score"]), auto, final, who, when)
        )
    return out


def audit_final(data: _Data) -> list[AuditVerdict]:
    """Per pair: each reviewer's latest verdict, the agreed verdict, and the status."""
    with data.connect() as con:
        verdicts: dict[str, dict[str, str]] = {}
        for r in con.execute("SELECT * FROM audit_verdict ORDER BY id"):
            verdicts.setdefault(r["synthetic"], {})[r["reviewer"]] = r["verdict"]
    out = []
    for pair in data.pairs:
        given = verdicts.get(pair["synthetic"], {})
        final, status = adjudicate(given)
        out.append(
            AuditVerdict(
                rank=int(pair["rank"]),
                synthetic=pair["synthetic"],
                train=pair["train"],
                similarity=float(pair["similarity"]),
                flagged=pair["flagged"].strip().lower() in ("1", "true", "yes"),
                verdicts=tuple(sorted(given.items())),
                final=final,
                status=status,
            )
        )
    return out


def export(data: _Data) -> None:
    """Rewrite the decision CSVs in the review folder from the database."""
    if data.screen_rows:
        write_screen_decisions(data.out, screen_final(data))
    if data.pairs:
        write_audit_verdicts(data.out, audit_final(data))


# ---------------------------------------------------------------------------------- pages


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif}}"
        "td,th{padding:4px 8px;border-bottom:1px solid #ddd}img{height:160px}"
        f".flag{{color:#b00}}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _verdict_text(v: AuditVerdict) -> str:
    return ";".join(f"{who}={verdict}" for who, verdict in v.verdicts)


def _check_reviewer(reviewer: str | None) -> str:
    if not reviewer or not REVIEWER_RE.match(reviewer):
        raise HTTPException(400, "enter a reviewer id (letters, digits, _ . @ -; at most 64)")
    return reviewer


def _safe_file(root: Path, rel: str) -> Path:
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise HTTPException(404, "no such image")
    return path


def create_app(data: _Data) -> FastAPI:
    """The review web app over loaded data (see :func:`load`)."""
    app = FastAPI(title="radsynth review")
    screen_index = {r["image"]: r for r in data.screen_rows}
    pair_index = {p["synthetic"]: p for p in data.pairs}

    @app.get("/", response_class=HTMLResponse)
    def home():
        form = (
            "<form action='/start'><label>Reviewer id <input name='reviewer' required "
            "pattern='[A-Za-z0-9_.@-]{1,64}'></label> <button>Start</button></form>"
        )
        parts = [f"<p>{len(data.screen_rows)} screened images, {len(data.pairs)} audit pairs.</p>"]
        return _page("radsynth review", form + "".join(parts))

    @app.get("/start", response_class=HTMLResponse)
    def start(reviewer: str | None = Query(None)):
        who = _check_reviewer(reviewer)  # the pattern admits no HTML or URL specials
        links = []
        if data.screen_rows:
            links.append(f"<li><a href='/screen?reviewer={who}'>screening flags</a></li>")
        if data.pairs:
            links.append(f"<li><a href='/audit?reviewer={who}'>memorization pairs</a></li>")
        links.append("<li><a href='/disagreements'>audit disagreements</a></li>")
        return _page(f"Reviewer {who}", f"<ul>{''.join(links)}</ul>")

    @app.get("/screen", response_class=HTMLResponse)
    def screen_page(reviewer: str | None = Query(None), page: int = Query(0, ge=0)):
        who = html.escape(_check_reviewer(reviewer))
        final = {d.image: d for d in screen_final(data)}
        rows = data.screen_rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        body = [
            "<table><tr><th>image</th><th>score</th><th>auto</th><th>final (by)</th>"
            "<th></th><th>decide</th></tr>"
        ]
        for r in rows:
            f, img = final[r["image"]], html.escape(r["image"])
            auto = "<span class='flag'>exclude</span>" if f.auto == "exclude" else "keep"
            buttons = "".join(
                f"<form method='post' action='/screen/decide' style='display:inline'>"
                f"<input type='hidden' name='reviewer' value='{who}'>"
                f"<input type='hidden' name='image' value='{img}'>"
                f"<input type='hidden' name='page' value='{page}'>"
                f"<button name='decision' value='{d}'>{d}</button></form>"
                for d in ("keep", "exclude")
            )
            body.append(
                f"<tr><td>{img}</td><td>{html.escape(r['score'])}</td><td>{auto}</td>"
                f"<td>{f.final} ({html.escape(f.decided_by)})</td>"
                f"<td><img src='/image/screen/{quote(r['image'])}' alt='{img}'></td>"
                f"<td>{buttons}</td></tr>"
            )
        body.append("</table>")
        if (page + 1) * PAGE_SIZE < len(data.screen_rows):
            body.append(f"<a href='/screen?reviewer={who}&page={page + 1}'>next page</a>")
        return _page(f"Screening flags - {who}", "".join(body))

    @app.post("/screen/decide")
    def screen_decide(
        reviewer: str = Form(""),
        image: str = Form(...),
        decision: str = Form(...),
        page: int = Form(0),
    ):
        who = _check_reviewer(reviewer)
        if image not in screen_index:
            raise HTTPException(404, "no such screened image")
        if decision not in ("keep", "exclude"):
            raise HTTPException(400, "decision must be keep or exclude")
        flagged = int(screen_index[image]["flagged"] == "1")
        with data.connect() as con:
            con.execute(
                "INSERT INTO screen_decision (image, reviewer, decision, auto_flagged, "
                "decided_at) VALUES (?, ?, ?, ?, ?)",
                (image, who, decision, flagged, _now()),
            )
        export(data)
        return RedirectResponse(f"/screen?reviewer={who}&page={page}", status_code=303)

    @app.get("/audit", response_class=HTMLResponse)
    def audit_page(reviewer: str | None = Query(None)):
        who = html.escape(_check_reviewer(reviewer))
        final = {v.synthetic: v for v in audit_final(data)}
        body = [
            "<table><tr><th>rank</th><th>cosine</th><th>pair (synthetic | training)</th>"
            "<th>verdicts</th><th>status</th><th>your verdict</th></tr>"
        ]
        for p in data.pairs:
            f, syn = final[p["synthetic"]], html.escape(p["synthetic"])
            rank = int(p["rank"])
            buttons = "".join(
                f"<form method='post' action='/audit/decide' style='display:inline'>"
                f"<input type='hidden' name='reviewer' value='{who}'>"
                f"<input type='hidden' name='synthetic' value='{syn}'>"
                f"<button name='verdict' value='{v}'>{label}</button></form>"
                for v, label in (("memorized", "memorized"), ("not", "not memorized"))
            )
            body.append(
                f"<tr><td>{rank}</td><td>{html.escape(p['similarity'])}</td>"
                f"<td><img src='/image/audit/sheets/pair-{rank:04d}.png' alt='{syn}'></td>"
                f"<td>{html.escape(_verdict_text(f))}</td><td>{f.status}</td>"
                f"<td>{buttons}</td></tr>"
            )
        return _page(f"Memorization pairs - {who}", "".join(body) + "</table>")

    @app.post("/audit/decide")
    def audit_decide(
        reviewer: str = Form(""), synthetic: str = Form(...), verdict: str = Form(...)
    ):
        who = _check_reviewer(reviewer)
        if synthetic not in pair_index:
            raise HTTPException(404, "no such audit pair")
        if verdict not in ("memorized", "not"):
            raise HTTPException(400, "verdict must be memorized or not")
        with data.connect() as con:
            con.execute(
                "INSERT INTO audit_verdict (synthetic, train, reviewer, verdict, "
                "decided_at) VALUES (?, ?, ?, ?, ?)",
                (synthetic, pair_index[synthetic]["train"], who, verdict, _now()),
            )
        export(data)
        return RedirectResponse(f"/audit?reviewer={who}", status_code=303)

    @app.get("/disagreements", response_class=HTMLResponse)
    def disagreements():
        rows = [v for v in audit_final(data) if v.status == "disagreement"]
        items = "".join(
            f"<li>#{r.rank} {html.escape(r.synthetic)}: {html.escape(_verdict_text(r))}</li>"
            for r in rows
        )
        return _page("Audit disagreements", f"<p>{len(rows)} pairs</p><ul>{items}</ul>")

    @app.get("/image/screen/{rel:path}")
    def screen_image(rel: str):
        if data.screen_images is None or rel not in screen_index:
            raise HTTPException(404, "no such image")
        return FileResponse(_safe_file(data.screen_images, rel), media_type="image/png")

    @app.get("/image/audit/{rel:path}")
    def audit_image(rel: str):
        if data.audit_dir is None or not rel.startswith("sheets/"):
            raise HTTPException(404, "no such image")
        return FileResponse(_safe_file(data.audit_dir, rel), media_type="image/png")

    return app


def review(cfg: ReviewConfig) -> StageResult:
    """Serve the review page until interrupted; decisions land in ``cfg.out``."""
    import uvicorn

    data = load(cfg.out, cfg.screen, cfg.audit)
    print(f"review page: http://{cfg.host}:{cfg.port}/  (decisions in {cfg.out})")
    uvicorn.run(create_app(data), host=cfg.host, port=cfg.port, log_level="warning")
    return StageResult(cfg.out, f"review decisions in {cfg.out}")
