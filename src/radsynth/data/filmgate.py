"""How ingest's film checks turn two votes into a decision or a review (issue 27).

Two models vote on each film: the shipped networks (:mod:`radsynth.films.checknet`, fitted once
on standard films) and the collection model (:mod:`radsynth.films.selfsup`, fitted on the folder
being ingested, started from the shipped networks' calls). The rules:

- **Out-of-distribution gate.** A film whose shipped-network features lie beyond the OOD cut
  (:func:`radsynth.films.checknet.feature_distance`; the cut is the 99% split-conformal
  quantile on held-out fitting films) gets no shipped vote: the networks were not fitted on
  anything like it, so it is never turned (a turn needs their vote). With no collection model
  either, :func:`radsynth.data.filmchecks.check_with_shipped` falls back to the header or the
  hand cue and leaves the film as stored (ingest also reads non-chest sources, such as lateral
  neck films and extremity CR, which are all out of this distribution).
- **Polarity** (a much easier task than rotation, so it is not tied to the rotation votes):
  the surest vote makes the call. A vote against it that reaches ``review_below`` sends the
  film to review; a weaker one only discounts it: the call's confidence is
  ``sigmoid(|l_best| - sum |l_against|)`` in the votes' log-odds ``l``, the evidence left once
  the dissent is taken off (two calibrated votes combined as independent evidence, Hinton's
  product of experts, Neural Computation 2002, but only ever to lower confidence: agreeing
  votes are not independent, the collection model starts from the shipped calls, so agreement
  keeps the surer vote's confidence). Where the shipped network is unsure, even agreement
  keeps the shipped network's confidence: the collection model learned from its calls on films
  like this one, so agreeing with an unsure call is no confirmation (the confirmation bias of
  self-training, Arazo et al., IJCNN 2020). Decided when that reaches ``review_below``. On an
  out-of-distribution film the shipped vote can oppose a call but never make or raise one. A
  DICOM header overrules them all. (Before: any dissent, however weak, sent the film to review,
  and a gated film's collection call was taken even against a sure shipped vote.)
- **Rotation: an upright film is never turned.** "Upright" is decided when every vote says
  upright and one of them reaches ``review_below``, or (since 2026-12-06) when one vote says
  upright and the other's turn is a weak dissent (under ``review_below``) that leaves the
  upright call at least ``review_below`` once taken off in log-odds, as for polarity (before:
  any dissent, however weak, sent the film to review). A turn is decided only when
  the shipped network and the collection model both name the same turn, the shipped network with
  probability at least ``turn_above`` (chosen on held-out paediatric and drawn films so that no
  upright film there reached it) and the collection model with at least ``review_below``, and
  the turned film is more typical of its collection
  (:func:`radsynth.data.filmchecks.rotation_confirmed`). Anything else goes to review, with the
  turn the two votes agree on as the suggestion (none when they disagree).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Vote:
    """One model's calibrated call on one film."""

    p_negative: float  # P(stored negative)
    p_rotation: np.ndarray  # (4,) P(stored turned by k quarter turns counter-clockwise)


@dataclass(frozen=True)
class GateSettings:
    """Thresholds of the rules above."""

    review_below: float  # a decision needs at least this confidence
    turn_above: float  # a turn needs the shipped network at least this sure


def _names(shipped: Vote | None, collection: Vote | None) -> list[tuple[str, Vote]]:
    return [(n, v) for n, v in (("shipped", shipped), ("collection", collection)) if v is not None]


def _sureness(v: Vote) -> float:
    return max(v.p_negative, 1.0 - v.p_negative)


def _log_odds(p: float) -> float:
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    return float(np.log(p / (1.0 - p)))


def decide_polarity(
    shipped: Vote | None,
    collection: Vote | None,
    gate: GateSettings,
    gated: Vote | None = None,
) -> tuple[bool, float, str, str]:
    """(negative, confidence, source, review reason or "") from the available votes.

    ``gated`` is the shipped vote on a film beyond the OOD cut (``shipped`` is then None): it may
    oppose the call, never make it (module docstring)."""
    votes = _names(shipped, collection)
    if not votes:
        return (
            False,
            0.0,
            "none",
            "polarity unchecked: unlike the films the networks were fitted on",
        )
    source = "+".join(n for n, _ in votes)
    best = max((v for _, v in votes), key=_sureness)
    negative = best.p_negative > 0.5
    others = [*votes, *([("shipped (out of distribution)", gated)] if gated is not None else [])]
    against = [(n, v) for n, v in others if (v.p_negative > 0.5) != negative]
    said = ", ".join(f"{n} P(negative)={v.p_negative:.3f}" for n, v in others)
    if any(_sureness(v) >= gate.review_below for _, v in against):
        follow = shipped if shipped is not None else best
        return follow.p_negative > 0.5, 0.5, source, f"polarity votes disagree ({said})"
    conf = _sureness(best)
    echo = shipped is not None and collection is not None and not against
    if echo and _sureness(shipped) < gate.review_below:
        # The collection model learned from the shipped calls on films like this one, so where
        # the shipped network is unsure their agreement confirms nothing (the confirmation bias
        # of self-training): the shipped network's own confidence counts.
        conf = _sureness(shipped)
    if against:
        dissent = sum(abs(_log_odds(v.p_negative)) for _, v in against)
        conf = float(1.0 / (1.0 + np.exp(dissent - abs(_log_odds(best.p_negative)))))
    reason = "" if conf >= gate.review_below else f"polarity uncertain (P={conf:.3f}; {said})"
    return negative, conf, source, reason


def decide_rotation(
    shipped: Vote | None, collection: Vote | None, confirmed: bool, gate: GateSettings
) -> tuple[int, float, str]:
    """(quarter turns, confidence, review reason or "") from the available votes; a non-zero
    turn with an empty reason is applied, any other turn is only a suggestion."""
    votes = _names(shipped, collection)
    if not votes:
        return 0, 0.0, "rotation unchecked: unlike the films the networks were fitted on"
    turns = [int(np.argmax(v.p_rotation)) for _, v in votes]
    best = [float(np.max(v.p_rotation)) for _, v in votes]
    said = ", ".join(
        f"{n} {90 * k} deg (P={p:.3f})" for (n, _), k, p in zip(votes, turns, best, strict=True)
    )
    if not any(turns):
        conf = max(best)
        return 0, conf, "" if conf >= gate.review_below else f"rotation uncertain ({said})"
    if len(votes) == 2 and turns.count(0) == 1:
        kept = _upright_despite_dissent(
            votes[turns.index(0)][1], votes[turns.index(0) - 1][1], gate
        )
        if kept is not None:
            return 0, kept, ""
    agreed = turns[0] if len(set(turns)) == 1 else 0
    if shipped is None or collection is None:
        return agreed, max(best), f"turn needs the shipped and the collection model ({said})"
    if not agreed:
        return 0, min(best), f"rotation votes disagree ({said})"
    if best[0] < gate.turn_above or best[1] < gate.review_below:
        return agreed, min(best), f"turn not certain enough ({said})"
    if not confirmed:
        return (
            agreed,
            min(best),
            (
                f"rotation by {90 * agreed} deg not confirmed: the turned film is no closer to the "
                "collection than as stored"
            ),
        )
    return agreed, min(best), ""


def _upright_despite_dissent(upright: Vote, dissent: Vote, gate: GateSettings) -> float | None:
    """The confidence in "upright" when one vote says upright and the other names a turn but is
    not sure of it (its P(not upright) under ``review_below``): the dissent discounts the call,
    as a weak polarity dissent does, ``sigmoid(l_upright - l_dissent)`` in log-odds. None (the
    film goes to review) when the dissent is sure or the discounted confidence is under
    ``review_below``. It can only keep a film as stored, never turn one."""
    against = 1.0 - float(upright.p_rotation[0]), 1.0 - float(dissent.p_rotation[0])
    if against[1] >= gate.review_below:
        return None
    conf = float(1.0 / (1.0 + np.exp(_log_odds(against[1]) + _log_odds(against[0]))))
    return conf if conf >= gate.review_below else None
