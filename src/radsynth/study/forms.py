"""Turning a posted form or JSON body into a :class:`~radsynth.study.service.Submission`.

Every number is bounded here (:data:`~radsynth.study.service.MAX_INT`), so an out-of-range
integer is a 400 and never reaches the database driver.
"""

from __future__ import annotations

from typing import Any

from radsynth.study import service as svc


def parse_int(value: Any, low: int, high: int, message: str) -> int:
    """A whole number ``low``..``high`` from a form field (ASCII digits, optional leading
    minus) or a JSON integer; anything else is a :class:`StudyError` 400 with ``message``.

    Every integer a rater or an admin sends goes through here. ``str.isdigit`` alone is not
    enough: it accepts Unicode digits (a superscript 2, a circled 1) that ``int`` refuses or
    reads as another number, which answered 500.
    """
    if isinstance(value, bool):
        raise svc.StudyError(400, message)
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        digits = text.removeprefix("-")
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
            raise svc.StudyError(400, message)
        number = int(text)
    if not low <= number <= high:
        raise svc.StudyError(400, message)
    return number


def _int(value: Any, what: str) -> int:
    return parse_int(
        value, 0, svc.MAX_INT, f"{what} must be a whole number from 0 to {svc.MAX_INT}"
    )


def submission_from_form(form: dict[str, Any]) -> svc.Submission:
    """Form fields ``version``, ``pick``, ``answer``, ``rating_ID``, ``finding_ID``, ``cue_ID``."""
    if "version" not in form:
        raise svc.StudyError(400, "the form lacks its version; reload the page")
    per_image: dict[str, dict[str, Any]] = {"rating": {}, "finding": {}, "cue": {}}
    for key, value in form.items():
        prefix, _, image_id = key.partition("_")
        if prefix in per_image and image_id:
            per_image[prefix][image_id] = value
    cues = {k: str(v) for k, v in per_image["cue"].items() if str(v).strip()}
    return svc.Submission(
        version=_int(form["version"], "version"),
        picked=form.get("pick") or None,
        answer=form.get("answer") or None,
        ratings={k: _int(v, "rating") for k, v in per_image["rating"].items()},
        finding={k: str(v) for k, v in per_image["finding"].items()},
        cue=cues,
    )


def submission_from_json(body: Any) -> svc.Submission:
    """JSON ``{"version": 0, "picked": ID, "answer": ..., "ratings": {ID: 1..4}, ...}``."""
    if not isinstance(body, dict) or not isinstance(body.get("version"), int):
        raise svc.StudyError(400, "the body must be a JSON object with an integer version")
    if isinstance(body["version"], bool) or not 0 <= body["version"] <= svc.MAX_INT:
        raise svc.StudyError(400, f"version must be a whole number from 0 to {svc.MAX_INT}")
    maps = {k: body.get(k) or {} for k in ("ratings", "finding", "cue")}
    if not all(isinstance(m, dict) for m in maps.values()):
        raise svc.StudyError(400, "ratings, finding and cue must be JSON objects keyed by image id")
    for key in ("picked", "answer"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise svc.StudyError(400, f"{key} must be a string")
    if not all(isinstance(v, str) for v in [*maps["finding"].values(), *maps["cue"].values()]):
        raise svc.StudyError(400, "finding and cue values must be strings")
    return svc.Submission(
        version=body["version"],
        picked=body.get("picked"),
        answer=body.get("answer"),
        ratings=maps["ratings"],
        finding=maps["finding"],
        cue=maps["cue"],
    )
