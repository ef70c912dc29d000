"""What a rater can do, independent of HTTP: look at an item, submit an answer, see progress.

The web app and the simulated raters both go through these functions, so validation, replay
protection and the append-only history are the same for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from radsynth.study.classes import question_texts
from radsynth.study.db import (
    Assignment,
    Image,
    Item,
    ItemImage,
    Meta,
    Rater,
    Rating,
    Response,
    Visit,
    token_hash,
    utcnow,
)

ANSWERS = ("real", "fake", "unsure")
MAX_CUE_CHARS = 2000
#: Largest integer accepted anywhere (versions, screen numbers): the 32-bit column range, so an
#: out-of-range number is a 4xx before it reaches either database.
MAX_INT = 2**31 - 1


class StudyError(Exception):
    """A refused request: ``status`` is the HTTP status code, ``message`` one line for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Submission:
    """One answer to one item, as sent by a form, the JSON API or a simulated rater."""

    version: int  # the item version the rater saw; must equal the stored one
    picked: str | None = None  # image id believed real (quartet design)
    answer: str | None = None  # "real" | "fake" | "unsure" (single design)
    ratings: dict[str, int] = field(default_factory=dict)  # image id -> realism 1..4
    finding: dict[str, str] = field(default_factory=dict)  # image id -> "yes" | "no"
    cue: dict[str, str] = field(default_factory=dict)  # image id -> free text


def study_meta(session: Session) -> dict[str, str]:
    """All study-wide settings (design, questions, finding text, ...)."""
    return {m.key: m.value for m in session.scalars(select(Meta))}


def questions(meta: dict[str, str]) -> tuple[str, ...]:
    return tuple(q for q in meta.get("questions", "").split(",") if q)


def allow_back(meta: dict[str, str]) -> bool:
    """Whether raters may go back and change answers (``--allow-back``)."""
    return meta.get("allow_back") == "1"


def n_practice(meta: dict[str, str]) -> int:
    return int(meta.get("practice") or 0)


def find_rater(session: Session, token: str) -> Rater:
    """The rater whose invitation token this is.

    Raises:
        StudyError: 404 for an unknown token, 403 for a closed link.
    """
    rater = session.scalar(select(Rater).where(Rater.token_sha256 == token_hash(token)))
    if rater is None:
        raise StudyError(404, "unknown invitation link")
    if rater.closed:
        raise StudyError(403, "this invitation link has been closed by the study admin")
    return rater


def is_admin(session: Session, token: str) -> bool:
    meta = session.get(Meta, "admin_token_sha256")
    return meta is not None and meta.value == token_hash(token)


def progress(session: Session, rater_id: int) -> tuple[int, int]:
    """(answered items, total items) for one rater."""
    rows = session.execute(
        select(func.count(), func.count().filter(Assignment.version > 0)).where(
            Assignment.rater_id == rater_id
        )
    ).one()
    return int(rows[1]), int(rows[0])


def next_seq(session: Session, rater_id: int, skip: int | None = None) -> int | None:
    """The first screen the rater has not answered yet (other than ``skip``, the one being
    answered now), or None when all are done."""
    query = select(func.min(Assignment.seq)).where(
        Assignment.rater_id == rater_id, Assignment.version == 0
    )
    if skip is not None:
        query = query.where(Assignment.seq != skip)
    return session.scalar(query)


def _assignment(session: Session, rater_id: int, seq: int, meta: dict[str, str]) -> Assignment:
    """A rater's screen ``seq``; screens past the first unanswered one cannot be opened, so
    items are seen in the rater's stored order and none is skipped. Unless going back is
    allowed, an answered screen can be neither opened again nor changed."""
    if not 1 <= seq <= MAX_INT:
        raise StudyError(404, f"there is no item {seq} in this study")
    a = session.get(Assignment, (rater_id, seq))
    if a is None:
        raise StudyError(404, f"there is no item {seq} in this study")
    first_open = next_seq(session, rater_id)
    if first_open is not None and seq > first_open:
        raise StudyError(409, f"answer item {first_open} first; items are shown in order")
    if a.version > 0 and not allow_back(meta):
        raise StudyError(409, "answers are locked: an answered item cannot be opened or changed")
    return a


def item_image_ids(session: Session, item_id: int) -> list[str]:
    """Image ids of an item in position order."""
    return list(
        session.scalars(
            select(ItemImage.image_id)
            .where(ItemImage.item_id == item_id)
            .order_by(ItemImage.position)
        )
    )


def latest_response(session: Session, rater_id: int, seq: int) -> tuple[Response | None, dict]:
    """The latest accepted response for a screen and its ratings keyed by image id."""
    resp = session.scalar(
        select(Response)
        .where(Response.rater_id == rater_id, Response.seq == seq)
        .order_by(Response.version.desc())
        .limit(1)
    )
    if resp is None:
        return None, {}
    ratings = session.scalars(select(Rating).where(Rating.response_id == resp.id))
    return resp, {r.image_id: r for r in ratings}


def view_item(session: Session, rater: Rater, seq: int, meta: dict[str, str]) -> dict:
    """What a rater sees on screen ``seq`` (reads only; see :func:`open_item`).

    Returns:
        dict with seq, total, answered, practice, number, count, allow_back, version,
        image_ids (position order), finding_text (image id -> the finding its yes/no question
        names), and the rater's latest answer (picked, answer, ratings, finding, cue), all free
        of group information (a class is the intended finding, not real vs synthetic).
    """
    a = _assignment(session, rater.id, seq, meta)
    # Version 0 has no answer yet: skip the two queries that would find none.
    resp, ratings = latest_response(session, rater.id, seq) if a.version else (None, {})
    answered, total = progress(session, rater.id)
    practice = n_practice(meta)
    rows = session.execute(
        select(Item.kind, ItemImage.image_id, Image.label)
        .join(ItemImage, ItemImage.item_id == Item.id)
        .join(Image, Image.id == ItemImage.image_id)
        .where(Item.id == a.item_id)
        .order_by(ItemImage.position)
    ).all()
    kind, image_ids = rows[0][0], [r[1] for r in rows]
    return {
        "seq": seq,
        "total": total,
        "answered": answered,
        "practice": kind == "practice",
        # Shown to the rater: "Practice 1 of 2", then "Item 1 of N" without the practice items.
        "number": seq if kind == "practice" else seq - practice,
        "count": practice if kind == "practice" else total - practice,
        "allow_back": allow_back(meta),
        "version": a.version,
        "image_ids": image_ids,
        # The finding each image's yes/no question names (its own class's, or the study's).
        "finding_text": question_texts(meta, {r[1]: r[2] for r in rows}),
        "picked": resp.picked if resp else None,
        "answer": resp.answer if resp else None,
        "ratings": {k: r.rating for k, r in ratings.items()},
        "finding": {k: r.finding for k, r in ratings.items() if r.finding},
        "cue": {k: r.cue for k, r in ratings.items() if r.cue},
    }


def record_visit(session: Session, rater_id: int, seq: int) -> None:
    """Record an opening of screen ``seq`` and, if it is the first since the screen's last
    answer, its server time (two small writes, kept apart from :func:`view_item`'s reads so
    that the write lock is held briefly)."""
    now = utcnow()
    session.execute(
        update(Assignment)
        .where(
            Assignment.rater_id == rater_id, Assignment.seq == seq, Assignment.opened_at.is_(None)
        )
        .values(opened_at=now)
        .execution_options(synchronize_session=False)
    )
    session.add(Visit(rater_id=rater_id, seq=seq, opened_at=now))


def open_item(session: Session, rater: Rater, seq: int, meta: dict[str, str] | None = None) -> dict:
    """:func:`view_item` and :func:`record_visit` in one transaction."""
    view = view_item(session, rater, seq, meta or study_meta(session))
    record_visit(session, rater.id, seq)
    return view


def validate(sub: Submission, image_ids: list[str], meta: dict[str, str]) -> None:
    """Check a submission against its item and the study design.

    Raises:
        StudyError: 400 with the first problem found.
    """
    ids = set(image_ids)
    if meta["design"] == "quartet":
        if sub.picked not in ids:
            raise StudyError(400, "pick one of this item's images as the real one")
        if sub.answer is not None:
            raise StudyError(400, "this study asks for a pick, not a real/fake answer")
    else:
        if sub.answer not in ANSWERS:
            raise StudyError(400, "answer must be one of real, fake, unsure")
        if sub.picked is not None:
            raise StudyError(400, "this study asks for a real/fake answer, not a pick")
    for part in (sub.ratings, sub.finding, sub.cue):
        if not set(part) <= ids:
            raise StudyError(400, "the answer names an image that is not part of this item")
    if set(sub.ratings) != ids:
        raise StudyError(400, "rate every image of this item from 1 to 4")
    for value in sub.ratings.values():
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4:
            raise StudyError(400, "ratings must be whole numbers from 1 to 4")
    asked = questions(meta)
    if "finding" in asked:
        if set(sub.finding) != ids or not set(sub.finding.values()) <= {"yes", "no"}:
            raise StudyError(400, "answer yes or no for the finding on every image")
    elif sub.finding:
        raise StudyError(400, "this study does not ask about findings")
    if sub.cue and "cue" not in asked:
        raise StudyError(400, "this study does not ask for cues")
    if any(len(c) > MAX_CUE_CHARS for c in sub.cue.values()):
        raise StudyError(400, f"a cue may hold at most {MAX_CUE_CHARS} characters")


@dataclass(frozen=True)
class CheckedAnswer:
    """A submission that passed :func:`check_answer`, ready for :func:`store_answer`."""

    rater_id: int
    seq: int
    item_id: int
    opened_at: datetime | None  # first opening since the last answer (None: never opened)
    sub: Submission


def check_answer(
    session: Session, rater: Rater, seq: int, sub: Submission, meta: dict[str, str]
) -> CheckedAnswer:
    """Validate one answer against the rater's screen and the study design (reads only).

    Raises:
        StudyError: 404 unknown item, 400 invalid answer, 409 locked, stale or out of order.
    """
    if not 0 <= sub.version <= MAX_INT:
        raise StudyError(400, f"version must be a whole number from 0 to {MAX_INT}")
    a = _assignment(session, rater.id, seq, meta)
    if sub.version != 0 and not allow_back(meta):
        # Locked answers are given once: only version 0 may be answered, so the write's
        # compare-and-set (version = 0) refuses a second answer however the two interleave.
        raise StudyError(409, "answers are locked: an answered item cannot be opened or changed")
    validate(sub, item_image_ids(session, a.item_id), meta)
    return CheckedAnswer(rater.id, seq, a.item_id, a.opened_at, sub)


def store_answer(session: Session, checked: CheckedAnswer, seconds: float | None = None) -> int:
    """Store a checked answer, append-only; the caller commits.

    The assignment's version is bumped with a compare-and-set ``UPDATE ... WHERE version = v``
    (and, unless going back is allowed, ``v = 0``, enforced by :func:`check_answer` seeing
    version 0), so of two identical (replayed or concurrent) submissions exactly one is stored.

    Returns:
        The new version of the item (1 after the first answer).

    Raises:
        StudyError: 409 when another submission got there first.
    """
    sub, now = checked.sub, utcnow()
    opened = checked.opened_at or now
    if seconds is not None:
        opened = now - timedelta(seconds=seconds)
    result = session.execute(
        update(Assignment)
        .where(
            Assignment.rater_id == checked.rater_id,
            Assignment.seq == checked.seq,
            Assignment.version == sub.version,
        )
        .values(version=Assignment.version + 1, opened_at=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise StudyError(
            409, "this answer was already submitted (or changed in another tab); reload the page"
        )
    resp = Response(
        rater_id=checked.rater_id,
        seq=checked.seq,
        item_id=checked.item_id,
        version=sub.version + 1,
        picked=sub.picked,
        answer=sub.answer,
        opened_at=opened,
        answered_at=now,
    )
    session.add(resp)
    session.flush()
    rows = [
        {
            "response_id": resp.id,
            "image_id": image_id,
            "rating": rating,
            "finding": sub.finding.get(image_id),
            "cue": (sub.cue.get(image_id) or "").strip() or None,
        }
        for image_id, rating in sub.ratings.items()
    ]
    session.execute(insert(Rating), rows)  # one executemany, not one ORM insert per image
    return sub.version + 1


def submit(
    session: Session,
    rater: Rater,
    seq: int,
    sub: Submission,
    *,
    seconds: float | None = None,
    meta: dict[str, str] | None = None,
) -> int:
    """:func:`check_answer` and :func:`store_answer` in one transaction (simulated raters).

    ``seconds`` (simulated raters only) sets the time spent on the item; otherwise it is the
    server time between the screen's first opening and this submission.
    """
    checked = check_answer(session, rater, seq, sub, meta or study_meta(session))
    return store_answer(session, checked, seconds)
