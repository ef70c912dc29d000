"""Ingest's film checks: negative films and films stored rotated (90, 180, 270 degrees).

Evidence, strongest first:

1. **The DICOM header.** PhotometricInterpretation MONOCHROME1 / MONOCHROME2 (with the VOI LUT
   or window already applied by :mod:`radsynth.data.dicom`) fixes the polarity; no image score
   may overrule it.
2. **The shipped networks** (:mod:`radsynth.films.checknet`): an equivariant rotation network
   and an antisymmetric polarity network fitted once on standard frontal films, with an
   out-of-distribution gate (a film unlike their fitting films gets no vote from them).
3. **The collection itself** (:mod:`radsynth.films.selfsup`): a softmax classifier over the eight
   transforms {as is, inverted} x {0, 90, 180, 270 degrees}, learned from the collection's own
   films by cross-fitted hard EM and temperature-calibrated, started from the shipped networks'
   calls (it adapts them to the folder; it does not replace them). Collections smaller than
   ``min_films`` (30) have no collection model: the shipped networks decide alone, a detected
   turn goes to review, and the ingest log says so.

:mod:`radsynth.data.filmgate` combines the votes: a turn needs both models to agree with high
confidence (an upright film is never turned on one vote); anything uncertain or disputed goes to
``review.csv``. Without the films themselves (``images=None``) the issue-18 rule runs: the
collection model alone, or the hand-made central-band cue of :mod:`radsynth.data.polarity` for a
small collection (rotation then unchecked).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from radsynth.data.filmgate import GateSettings, Vote, decide_polarity, decide_rotation
from radsynth.data.polarity import detect_polarity
from radsynth.films.selfsup import (
    POLARITY_ROTATION,
    Film,
    detect_transforms,
    fit_temperature,
    softmax,
    undo,
)

if TYPE_CHECKING:
    from radsynth.films.checknet import ShippedCall

log = logging.getLogger(__name__)

#: A rotation is applied only when the turned film's mean distance to its nearest films of the
#: collection is below this share of the film's distance as stored (module docstring).
TYPICALITY_RATIO = 0.85
#: Nearest films averaged in that distance.
TYPICALITY_K = 10


@dataclass(frozen=True)
class FilmCheck:
    """The polarity and rotation decision for one film."""

    negative: bool  # the film is stored inverted (bone dark): invert it
    polarity_confidence: float  # calibrated probability of the polarity decision
    polarity_source: str  # header | collection | cue
    rotation_deg: int  # counter-clockwise quarter turns x 90 the film was stored with
    rotation_confidence: float  # calibrated probability of the rotation decision (1: unchecked)
    review: str  # why the film needs a person ("" when it does not)


@dataclass(frozen=True)
class CheckSettings:
    """Knobs of :func:`check_films` (ingest passes its config's values)."""

    review_below: float = 0.9  # confidence below which a film goes to review (0: never)
    min_films: int = 30  # smaller collections use the hand-made cue only
    seed: int = 0  # seed of the cross-fitting folds
    turn_above: float = 0.99  # a turn needs the shipped rotation network at least this sure


def check_films(
    films: list[Film],
    cue_scores: np.ndarray,
    header_negative: list[bool | None],
    settings: CheckSettings,
    images: list[np.ndarray] | None = None,
) -> list[FilmCheck]:
    """Decide polarity and rotation for a collection.

    Args:
        films: each film's representation (:func:`radsynth.films.selfsup.represent`), taken as
            read (a DICOM already displayed through its header's polarity).
        cue_scores: (N,) the hand-made polarity score of each film (> 0: positive).
        header_negative: per film, None when no header says anything, otherwise whether the
            header made the film's displayed form (``films[i]``) need an inversion (always False
            after :func:`radsynth.data.dicom.read_dicom`, which already applied it).
        settings: thresholds and seed.
        images: the films themselves (float (H, W) in [0, 1], as read): with them, the shipped
            networks vote too and the rules of :mod:`radsynth.data.filmgate` decide (ingest
            always passes them); without them, the collection model alone decides (issue 18).

    Returns:
        One :class:`FilmCheck` per film, in order.
    """
    if images is not None:
        return check_with_shipped(films, cue_scores, header_negative, settings, images)
    n = len(films)
    if n < settings.min_films:
        return [_cue_only(s, h, settings) for s, h in zip(cue_scores, header_negative, strict=True)]
    # The model learns what the films look like, so every film starts from its image cue; a
    # header overrides only the final polarity decision, never what the model is taught.
    init = np.where(np.asarray(cue_scores) < 0, 4, 0)
    fit = detect_transforms(films, POLARITY_ROTATION, init, seed=settings.seed)
    by_polarity = fit.probs.reshape(n, 2, 4)
    p_negative = by_polarity[:, 1].sum(1)
    p_rotation = by_polarity.sum(1)
    confirmed = rotation_confirmed(films, fit.labels, p_rotation.argmax(1))
    out = []
    for i in range(n):
        if header_negative[i] is not None:
            # The header fixes the polarity; the rotation is read over both polarities, since
            # a header may rightly display a film the model would call negative.
            negative, pconf, source = bool(header_negative[i]), 1.0, "header"
        else:
            negative = bool(p_negative[i] > 0.5)
            pconf, source = float(max(p_negative[i], 1.0 - p_negative[i])), "collection"
        p_rot = p_rotation[i]
        turns = int(p_rot.argmax())
        reasons = []
        if pconf < settings.review_below:
            reasons.append(f"polarity uncertain (P={pconf:.3f})")
        if p_rot[turns] < settings.review_below:
            reasons.append(f"rotation uncertain (P={p_rot[turns]:.3f})")
        elif not confirmed[i]:
            reasons.append(
                f"rotation by {90 * turns} deg not confirmed: the turned film is no "
                "closer to the collection than as stored"
            )
        out.append(
            FilmCheck(negative, pconf, source, 90 * turns, float(p_rot[turns]), "; ".join(reasons))
        )
    return out


def check_with_shipped(
    films: list[Film],
    cue_scores: np.ndarray,
    header_negative: list[bool | None],
    settings: CheckSettings,
    images: list[np.ndarray],
) -> list[FilmCheck]:
    """:func:`check_films` with the shipped networks: they vote on every film they were fitted
    for (the OOD gate), the collection model (when the folder has ``min_films``) starts from
    their calls and votes too, and :mod:`radsynth.data.filmgate` decides."""
    from radsynth.films.checknet import call_shipped, load_checks

    nets = load_checks()
    call = call_shipped(nets, images)
    in_dist = call.ood_distance <= nets.ood_cut
    shipped = [
        Vote(float(call.p_negative[i]), call.p_rotation[i]) if in_dist[i] else None
        for i in range(len(films))
    ]
    collection: list[Vote | None] = [None] * len(films)
    confirmed = np.ones(len(films), dtype=bool)
    if len(films) < settings.min_films:
        log.info(
            "film checks: %d film(s), fewer than the %d a collection model needs: polarity and "
            "rotation from the shipped networks alone (a detected turn goes to review)",
            len(films),
            settings.min_films,
        )
    else:
        collection, confirmed = _collection_votes(films, cue_scores, call, in_dist, settings)
    gate = GateSettings(settings.review_below, settings.turn_above)
    out = []
    for i in range(len(films)):
        if shipped[i] is None and collection[i] is None:
            # Nothing fitted on anything like this film votes: the issue-18 fallback (header or
            # hand cue, review when unsure), and the film is never turned.
            out.append(_cue_only(float(cue_scores[i]), header_negative[i], settings))
            continue
        gated = None if in_dist[i] else Vote(float(call.p_negative[i]), call.p_rotation[i])
        negative, pconf, source, why_p = decide_polarity(shipped[i], collection[i], gate, gated)
        if header_negative[i] is not None:
            negative, pconf, source, why_p = bool(header_negative[i]), 1.0, "header", ""
        turns, rconf, why_r = decide_rotation(shipped[i], collection[i], bool(confirmed[i]), gate)
        why_r = guard_inverted_and_turned(negative, turns, why_r, call.p_upright_as_stored[i])
        reason = "; ".join(r for r in (why_p, why_r) if r)
        if settings.review_below <= 0.0:
            # The user asked that nothing go to review: an undecided turn is not applied (the
            # film stays as stored); a disputed polarity follows the shipped network.
            turns, reason = (0 if why_r else turns), ""
        out.append(FilmCheck(negative, pconf, source, 90 * turns, rconf, reason))
    return out


def guard_inverted_and_turned(
    negative: bool, turns: int, why_r: str, p_upright_as_stored: float
) -> str:
    """``why_r``, or a review reason when the film would be inverted *and* turned although,
    read as stored, the shipped rotation network calls it upright (P >= 0.5).

    The rotation is read on the film made positive by the polarity call, so one wrong polarity
    call can bring a wrong turn with it, and inverted-and-turned-by-180 is issue 27's worst
    case (an ordinary upright film went into training that way). When the film as stored
    already reads as upright, "keep it as it is" and "invert and turn it" are competing
    explanations and a person decides. On 117 inverted-and-turned decisions over four planted
    draws of 300 paediatric test films (plain and with artefacts), this never fired (the film
    as stored read upright at P <= 0.14 each time; docs/screening.md)."""
    if not (negative and turns and not why_r and p_upright_as_stored >= 0.5):
        return why_r
    return (
        "polarity and rotation only together: inverted and turned, although as stored the film "
        f"reads upright (P={p_upright_as_stored:.3f})"
    )


def _collection_votes(
    films: list[Film],
    cue_scores: np.ndarray,
    call: ShippedCall,
    in_dist: np.ndarray,
    settings: CheckSettings,
) -> tuple[list[Vote | None], np.ndarray]:
    """The collection model's votes, started from the shipped networks' calls (the hand cue and
    "upright" for films out of their distribution), and the typicality check of each turn."""
    n = len(films)
    neg = np.where(in_dist, call.p_negative > 0.5, np.asarray(cue_scores) < 0)
    turn = np.where(in_dist & (call.p_rotation.max(1) >= 0.5), call.p_rotation.argmax(1), 0)
    fit = detect_transforms(films, POLARITY_ROTATION, 4 * neg + turn, seed=settings.seed)
    sure = in_dist & (np.maximum(call.p_negative, 1.0 - call.p_negative) >= settings.turn_above)
    sure &= call.p_rotation.max(1) >= settings.turn_above
    anchors = np.where(sure, 4 * (call.p_negative > 0.5) + call.p_rotation.argmax(1), -1)
    probs, temperature = calibrate_to_shipped(fit.probs, anchors)
    log.info(
        "film checks: collection model calibrated on the shipped networks' %d sure calls "
        "(temperature %.2f; 1 = left as it is)",
        int(sure.sum()),
        temperature,
    )
    by_polarity = probs.reshape(n, 2, 4)
    votes = [Vote(float(by_polarity[i, 1].sum()), by_polarity[i].sum(0)) for i in range(n)]
    confirmed = rotation_confirmed(films, fit.labels, by_polarity.sum(1).argmax(1))
    return votes, confirmed


#: The collection model is calibrated on the shipped networks' sure calls only when it has
#: at least this many of them.
MIN_ANCHORS = 10


def calibrate_to_shipped(probs: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, float]:
    """The collection model's (N, K) probabilities flattened by the temperature that best fits
    the shipped networks' sure calls on the same folder (``anchors``: (N,) class index, -1
    where the shipped networks are not sure), and that temperature.

    The collection model is fitted and calibrated on its own pseudo-labels (hard EM), so its
    confidence says how consistent the folder is with itself, not how often it is right: on a
    folder whose films carry unlike artefacts it called turned, at P up to 1.0, upright films
    the shipped rotation network called upright at P > 0.999. Fitting a temperature (Guo et al.,
    ICML 2017) on the films where the shipped networks, fitted on other sources, are sure
    measures how far the collection model agrees with them here; it is only ever used to
    flatten (T >= 1), so a collection model that agrees keeps its confidence and one that
    does not loses it, and its dissent weighs less (:mod:`radsynth.data.filmgate`). Left as it
    is with fewer than :data:`MIN_ANCHORS` sure calls.
    """
    sel = anchors >= 0
    if int(sel.sum()) < MIN_ANCHORS:
        return probs, 1.0
    z = np.log(np.clip(probs, 1e-12, 1.0))
    t = max(1.0, fit_temperature(z[sel], anchors[sel]))
    return softmax(z / t), t


def rotation_confirmed(films: list[Film], labels: np.ndarray, turns: np.ndarray) -> np.ndarray:
    """Whether undoing each film's detected rotation makes it more typical of its collection.

    The classifier's probabilities can be extreme on a film unlike the rest of the collection
    (on the 3,306 paediatric films, four whole-body infant films were called "turned by 180
    degrees" with P = 1.000, all upright). A truly turned film, turned back, looks like its
    neighbours; so the rotation is applied only when the mean distance of the film's standardised
    grid to its ``TYPICALITY_K`` nearest canonicalised collection films (each undone by its own
    detected transform, itself left out) falls below ``TYPICALITY_RATIO`` times that distance as
    stored. Measured on paediatric films turned by 90/180/270 degrees: ratio 0.22-0.69 (60 films
    among 800), 0.24-0.86 (30 among 150: one goes to review); the four infant films: 1.01-1.15
    (among 800; among 150, one of them between 0.85 and 0.95). A film refused here goes to
    review, never turned.

    Args:
        films: the collection.
        labels: (N,) each film's detected transform (index into ``POLARITY_ROTATION``).
        turns: (N,) each film's detected quarter turns.

    Returns:
        (N,) bool; True for films with no rotation detected.
    """
    base = np.stack(
        [undo(f, POLARITY_ROTATION[t]).grid.ravel() for f, t in zip(films, labels, strict=True)]
    )
    out = np.ones(len(films), dtype=bool)
    k = min(TYPICALITY_K, len(films) - 1)
    for i in np.flatnonzero(turns != 0):
        invert = POLARITY_ROTATION[labels[i]][0]
        stored = undo(films[i], (invert, 0, False)).grid.ravel()
        turned = undo(films[i], (invert, int(turns[i]), False)).grid.ravel()
        dist = [np.linalg.norm(base - g, axis=1) for g in (stored, turned)]
        for d in dist:
            d[i] = np.inf
        near = [float(np.sort(d)[:k].mean()) for d in dist]
        out[i] = near[1] < TYPICALITY_RATIO * near[0]
    return out


def _cue_only(score: float, header: bool | None, settings: CheckSettings) -> FilmCheck:
    if header is not None:
        return FilmCheck(bool(header), 1.0, "header", 0, 1.0, "")
    conf = float(np.tanh(abs(score) / 0.05))
    uncertain = conf < settings.review_below
    review = f"polarity uncertain (cue confidence {conf:.3f})" if uncertain else ""
    return FilmCheck(bool(score < 0), conf, "cue", 0, 1.0, review)


def cue_score(img: np.ndarray) -> float:
    """The hand-made polarity cue of a float (H, W) image (> 0: positive), after stretching its
    values to [0, 1] (which commutes with inversion), so a low-contrast film scores like others."""
    lo, hi = float(img.min()), float(img.max())
    return detect_polarity((img - lo) / (hi - lo) if hi > lo else img).score
