"""A rater's way through a study before and after the items: instructions, consent, questionnaire.

Order: instructions (always) -> consent (if the study has a consent text) -> questionnaire (if
the study asks for one) -> practice items -> items -> finish. Each step before the items is
recorded once with its server time; items cannot be opened or answered before all are done.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from radsynth.study import service as svc
from radsynth.study.db import Questionnaire, Rater, utcnow
from radsynth.study.forms import parse_int

ROLES = ("radiologist", "radiology resident", "radiographer", "other physician", "other")
MAX_YEARS = 70
MAX_TEXT = 128


@dataclass(frozen=True)
class About:
    """The reader questionnaire: role, years reading radiographs, subspecialty."""

    role: str
    years: int
    subspecialty: str


def pending_step(session: Session, rater: Rater, meta: dict[str, str]) -> str | None:
    """The step before the items still to do (instructions, consent, questionnaire), or None."""
    if rater.started_at is None:
        return "instructions"
    if meta.get("consent") and rater.consented_at is None:
        return "consent"
    if meta.get("questionnaire") == "1" and session.get(Questionnaire, rater.id) is None:
        return "questionnaire"
    return None


def next_step(session: Session, rater: Rater, meta: dict[str, str]) -> str:
    """``"instructions"``, ``"consent"``, ``"questionnaire"``, ``"items"`` or ``"done"``."""
    step = pending_step(session, rater, meta)
    if step is not None:
        return step
    return "items" if svc.next_seq(session, rater.id) is not None else "done"


def require_items(session: Session, rater: Rater, meta: dict[str, str]) -> None:
    """Refuse item pages and answers before instructions, consent and questionnaire are done.

    Raises:
        StudyError: 409 naming the step still to do.
    """
    step = pending_step(session, rater, meta)
    if step is not None:
        raise svc.StudyError(409, f"please complete the {step} page first")


def start(rater: Rater) -> None:
    """The rater has read the instructions (kept from the first time)."""
    if rater.started_at is None:
        rater.started_at = utcnow()


def consent(rater: Rater, meta: dict[str, str], agreed: bool) -> None:
    """Record consent; refusing leaves the rater where they are.

    Raises:
        StudyError: 400 without agreement, 409 before the instructions or without a consent text.
    """
    if not meta.get("consent"):
        raise svc.StudyError(409, "this study asks for no consent")
    if rater.started_at is None:
        raise svc.StudyError(409, "please read the instructions first")
    if not agreed:
        raise svc.StudyError(400, "tick the box to agree, or close this page to take no part")
    if rater.consented_at is None:
        rater.consented_at = utcnow()


def parse_about(role: object, years: object, subspecialty: object) -> About:
    """Check questionnaire answers (from a form or JSON).

    Raises:
        StudyError: 400 with the first problem.
    """
    if role not in ROLES:
        raise svc.StudyError(400, f"role must be one of: {', '.join(ROLES)}")
    if isinstance(years, bool) or not isinstance(years, int | str):
        raise svc.StudyError(400, "years of experience must be a whole number")
    n_years = parse_int(
        years, 0, MAX_YEARS, f"years of experience must be a whole number 0-{MAX_YEARS}"
    )
    sub = str(subspecialty or "").strip()
    if len(sub) > MAX_TEXT or not isinstance(subspecialty, str | None):
        raise svc.StudyError(400, f"subspecialty may hold at most {MAX_TEXT} characters")
    return About(str(role), n_years, sub)


def answer_questionnaire(
    session: Session, rater: Rater, meta: dict[str, str], about: About
) -> None:
    """Store the questionnaire once (a second submission is refused: it would rewrite history).

    Raises:
        StudyError: 409 when not asked, before the earlier steps, or already answered.
    """
    if meta.get("questionnaire") != "1":
        raise svc.StudyError(409, "this study has no questionnaire")
    if next_step(session, rater, meta) != "questionnaire":
        raise svc.StudyError(409, "the questionnaire is not the next step")
    session.add(
        Questionnaire(
            rater_id=rater.id,
            role=about.role,
            years=about.years,
            subspecialty=about.subspecialty,
            answered_at=utcnow(),
        )
    )
