"""Invitation links: add raters, reissue a lost link, close and reopen, and show links again.

The database stores only the sha256 of each rater token, so a stolen database opens no link.
To show links to the admin again without storing them raw, each token is also *sealed* with a
key derived from the admin token, which the database does not hold either (only its hash):
``sealed = nonce || token XOR HMAC-SHA256(key, nonce)``, with ``key = SHA256("radsynth-links" ||
admin token)`` and a fresh 16-byte nonce. HMAC-SHA256 keyed with a secret is a pseudorandom
function (Bellare, Canetti & Krawczyk 1996), so the pad is a one-time pad per nonce. Whoever
holds the admin token (the admin page's URL, ``admin.txt``) can unseal; a database alone cannot.
Re-issuing instead would break every link already sent, which is why sealing was chosen.

Every admin action is logged with its UTC time in ``admin_log``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.records._csv import write_csv
from radsynth.stage import StageResult
from radsynth.study import db as t
from radsynth.study.design import ItemPlan, rater_order

TOKEN_BYTES = 32


def link_key(admin_token: str) -> bytes:
    """The key that seals rater tokens, derived from the admin token."""
    return hashlib.sha256(b"radsynth-links\x00" + admin_token.encode()).digest()


def new_token() -> str:
    """A fresh invitation token: 32 random bytes, URL-safe base64 without padding."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def seal(token: str, key: bytes) -> str:
    """Encrypt a token from :func:`new_token` (hex nonce || hex ciphertext)."""
    raw = base64.urlsafe_b64decode(token + "=")
    nonce = secrets.token_bytes(16)
    pad = hmac.new(key, nonce, hashlib.sha256).digest()
    return (nonce + bytes(a ^ b for a, b in zip(raw, pad, strict=True))).hex()


def unseal(sealed: str, key: bytes, token_sha256: str) -> str | None:
    """The token sealed in ``sealed``, or None when the key is wrong or nothing was sealed."""
    try:
        data = bytes.fromhex(sealed)
    except (TypeError, ValueError):
        return None
    nonce, body = data[:16], data[16:]
    if len(body) != TOKEN_BYTES:
        return None
    pad = hmac.new(key, nonce, hashlib.sha256).digest()
    raw = bytes(a ^ b for a, b in zip(body, pad, strict=True))
    token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return token if hmac.compare_digest(t.token_hash(token), token_sha256) else None


def _plans(session: Session) -> list[ItemPlan]:
    """The stored items as plans (kinds and repeats are all the order needs)."""
    items = session.scalars(select(t.Item).order_by(t.Item.id)).all()
    return [ItemPlan(i.kind, (), i.repeat_of - 1 if i.repeat_of else None) for i in items]


def log_action(session: Session, action: str, rater: str, via: str) -> None:
    session.add(t.AdminLog(at=t.utcnow(), action=action, rater=rater, via=via))


def add_raters(session: Session, n: int, admin_token: str, via: str) -> list[tuple[str, str]]:
    """Add ``n`` human raters named ``rater-NN`` after the existing ones, each with the seeded
    order of its index; returns ``[(name, token)]``."""
    seed = int(session.get(t.Meta, "seed").value)
    plans = _plans(session)
    start = session.scalar(select(func.count()).where(t.Rater.kind == "human")) or 0
    key = link_key(admin_token)
    made = []
    for r in range(start, start + n):
        token = new_token()
        rater = t.Rater(
            name=f"rater-{r + 1:02d}",
            kind="human",
            closed=False,
            token_sha256=t.token_hash(token),
            token_sealed=seal(token, key),
            created_at=t.utcnow(),
        )
        session.add(rater)
        session.flush()
        for seq, k in enumerate(rater_order(plans, seed, r), start=1):
            session.add(t.Assignment(rater_id=rater.id, seq=seq, item_id=k + 1))
        made.append((rater.name, token))
        if via != "create":
            log_action(session, "add", rater.name, via)
    return made


def _rater(session: Session, name: str) -> t.Rater:
    rater = session.scalar(select(t.Rater).where(t.Rater.name == name))
    if rater is None:
        raise RadsynthError(f"no rater named {name}")
    return rater


def reissue(session: Session, name: str, admin_token: str, via: str) -> str:
    """A new link for a rater (answers kept); the old link stops working at once."""
    rater = _rater(session, name)
    token = new_token()
    rater.token_sha256 = t.token_hash(token)
    rater.token_sealed = seal(token, link_key(admin_token))
    log_action(session, "reissue", name, via)
    return token


def set_closed(session: Session, name: str, closed: bool, via: str) -> None:
    """Close (no more answers, the link says so) or reopen a rater's link."""
    rater = _rater(session, name)
    rater.closed = closed
    log_action(session, "close" if closed else "reopen", name, via)


def link_rows(session: Session, admin_token: str, base_url: str) -> list[dict]:
    """Every rater with its link (empty when it was made before links were sealed: reissue)."""
    key, base = link_key(admin_token), base_url.rstrip("/")
    rows = []
    for r in session.scalars(select(t.Rater).order_by(t.Rater.kind, t.Rater.name)):
        token = unseal(r.token_sealed, key, r.token_sha256) if r.token_sealed else None
        url = f"{base}/r/{token}" if token else ""
        rows.append({"rater": r.name, "kind": r.kind, "closed": r.closed, "url": url})
    return rows


def write_links_csv(path: Path, rows: list[dict]) -> Path:
    """Rewrite the study's ``links.csv`` (rater, kind, url; owner-only) from
    :func:`link_rows`, so that it never lists a reissued, dead link; a rater whose link cannot
    be shown (made before links were sealed) gets an empty url."""
    write_csv(path, ("rater", "kind", "url"), rows, ignore_extra=True)
    os.chmod(path, 0o600)
    return path


@dataclass(frozen=True)
class LinksConfig:
    """Manage invitation links: add raters, reissue, close, reopen, or show them again."""

    action: Literal["add", "reissue", "close", "reopen", "show"] = arg(
        help="add | reissue | close | reopen | show", positional=True
    )
    study: Path = arg(help="study folder made by 'radsynth study create'", positional=True)
    rater: tuple[str, ...] = arg((), help="rater names (reissue, close, reopen)")
    count: int = arg(1, help="how many raters to add (add)")
    db: str | None = arg(None, help="database URL; default the one the study was created with")


def admin_token_of(study: Path) -> str:
    """The admin token from the study's ``admin.txt``."""
    path = study / "admin.txt"
    if not path.is_file():
        raise RadsynthError(f"{path} not found; the admin token is needed to manage links")
    return path.read_text().split()[1]


def manage_links(cfg: LinksConfig) -> StageResult:
    """Run one link action and print the affected links (tokens only to this terminal)."""
    from radsynth.study.migrate import open_study

    if cfg.action not in ("add", "reissue", "close", "reopen", "show"):
        raise RadsynthError(f"unknown action {cfg.action!r}; use add, reissue, close, reopen, show")
    if cfg.action in ("reissue", "close", "reopen") and not cfg.rater:
        raise RadsynthError(f"'{cfg.action}' needs --rater NAME")
    if cfg.action == "add" and not 1 <= cfg.count <= 1000:
        raise RadsynthError("--count must be 1-1000")
    admin = admin_token_of(cfg.study)
    engine = open_study(t.resolve_url(cfg.study, cfg.db))
    try:
        with t.session_scope(engine, write=cfg.action != "show") as s:
            if not hmac.compare_digest(
                s.get(t.Meta, "admin_token_sha256").value, t.token_hash(admin)
            ):
                raise RadsynthError("admin.txt does not hold this study's admin token")
            base = s.get(t.Meta, "base_url")
            base_url = base.value if base else "http://127.0.0.1:8000"
            names = list(cfg.rater)
            if cfg.action == "add":
                names = [name for name, _ in add_raters(s, cfg.count, admin, "cli")]
            elif cfg.action == "reissue":
                for name in names:
                    reissue(s, name, admin, "cli")
            elif cfg.action in ("close", "reopen"):
                for name in names:
                    set_closed(s, name, cfg.action == "close", "cli")
            s.flush()
            rows = link_rows(s, admin, base_url)
    finally:
        engine.dispose()
    write_links_csv(cfg.study / "links.csv", rows)
    shown = [r for r in rows if cfg.action == "show" or r["rater"] in names]
    for r in shown:
        state = "closed" if r["closed"] else "open"
        print(f"{r['rater']}\t{r['kind']}\t{state}\t{r['url'] or '(reissue to show)'}")
    return StageResult(cfg.study, f"{cfg.action}: {len(shown)} link(s)")
