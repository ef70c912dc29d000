"""The rules that turn the shipped networks' and the collection model's votes into a decision
or a review (radsynth.data.filmgate), on hand-made votes."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.data.filmgate import GateSettings, Vote, decide_polarity, decide_rotation

GATE = GateSettings(review_below=0.9, turn_above=0.99)


def rot(k: int, p: float) -> np.ndarray:
    """A rotation vote for k quarter turns with probability p, the rest spread evenly."""
    out = np.full(4, (1.0 - p) / 3)
    out[k] = p
    return out


def test_a_turn_needs_both_models_sure_and_agreeing_and_confirmed() -> None:
    ship, coll = Vote(0.01, rot(1, 0.999)), Vote(0.02, rot(1, 0.95))
    assert decide_rotation(ship, coll, True, GATE)[::2] == (1, "")
    # The same votes, but the turned film is no more typical of the collection.
    turns, _, why = decide_rotation(ship, coll, False, GATE)
    assert turns == 1 and "not confirmed" in why
    # The shipped network below turn_above (0.98 < 0.99): review, with the agreed suggestion.
    turns, _, why = decide_rotation(Vote(0.01, rot(1, 0.98)), coll, True, GATE)
    assert turns == 1 and "not certain enough" in why
    # The collection model below review_below.
    assert decide_rotation(ship, Vote(0.0, rot(1, 0.8)), True, GATE)[2]


def test_an_upright_film_is_never_turned_on_one_vote() -> None:
    """The collection calls an upright film turned with near certainty (as it did on infant
    films); the shipped network says upright: review, and no turn is suggested."""
    turns, _, why = decide_rotation(Vote(0.0, rot(0, 0.97)), Vote(0.0, rot(2, 0.9999)), True, GATE)
    assert turns == 0 and "disagree" in why
    # And the other way round.
    turns, _, why = decide_rotation(Vote(0.0, rot(2, 0.9999)), Vote(0.0, rot(0, 0.97)), True, GATE)
    assert turns == 0 and "disagree" in why
    # The two disagree on which turn: no suggestion either.
    assert decide_rotation(Vote(0, rot(1, 0.999)), Vote(0, rot(3, 0.99)), True, GATE)[0] == 0


def test_a_weak_turn_dissent_discounts_the_upright_call_instead_of_vetoing_it() -> None:
    """One vote says upright, the other names a turn without being sure of it: the upright call
    is kept at sigmoid(l_up - l_dissent) in log-odds, never turned; a sure dissent, or a
    discount that leaves less than review_below, still goes to review."""
    up, weak = Vote(0.0, rot(0, 0.999)), Vote(0.0, np.array([0.3, 0.4, 0.2, 0.1]))
    # By hand: log-odds of upright 6.9068 (0.999); the dissent's P(not upright) 0.7, 0.8473.
    expected = 1.0 / (1.0 + np.exp(-(np.log(0.999 / 0.001) - np.log(0.7 / 0.3))))
    for ship, coll in ((up, weak), (weak, up)):
        turns, conf, why = decide_rotation(ship, coll, True, GATE)
        assert (turns, why) == (0, "") and conf == pytest.approx(expected, rel=1e-9)
    # The same dissent against a weaker upright vote (0.95: 2.944 - 0.847 -> 0.890 < 0.9).
    turns, conf, why = decide_rotation(Vote(0.0, rot(0, 0.95)), weak, True, GATE)
    assert turns == 0 and "disagree" in why
    # A sure dissent (P(not upright) 0.92 >= 0.9) is not discounted, however sure the upright.
    turns, _, why = decide_rotation(Vote(0.0, rot(0, 0.99999)), Vote(0.0, rot(2, 0.92)), True, GATE)
    assert turns == 0 and "disagree" in why


def test_without_a_collection_model_a_turn_goes_to_review() -> None:
    turns, _, why = decide_rotation(Vote(0.0, rot(3, 0.99999)), None, True, GATE)
    assert turns == 3 and "needs the shipped and the collection model" in why
    # Upright from the shipped network alone is decided.
    assert decide_rotation(Vote(0.0, rot(0, 0.95)), None, True, GATE) == (0, 0.95, "")
    # Upright but unsure: review.
    assert "uncertain" in decide_rotation(Vote(0.0, rot(0, 0.6)), None, True, GATE)[2]


def test_upright_is_decided_when_one_vote_is_sure_and_none_says_turned() -> None:
    turns, conf, why = decide_rotation(Vote(0.0, rot(0, 0.7)), Vote(0.0, rot(0, 0.99)), True, GATE)
    assert (turns, why) == (0, "") and conf == 0.99


def test_out_of_distribution_with_no_collection_goes_to_review() -> None:
    assert decide_rotation(None, None, True, GATE)[2].startswith("rotation unchecked")
    negative, conf, source, why = decide_polarity(None, None, GATE)
    assert conf == 0.0 and source == "none" and why.startswith("polarity unchecked")
    # With a collection model, only the collection votes; a turn still needs the shipped one.
    assert decide_rotation(None, Vote(0.0, rot(2, 0.999)), True, GATE)[2]
    assert decide_polarity(None, Vote(0.99, rot(0, 1)), GATE)[:3] == (True, 0.99, "collection")


def test_agreeing_polarity_votes_keep_the_surer_confidence() -> None:
    """Agreement does not add confidence (the collection model starts from the shipped calls, so
    the votes are not independent): the surer vote's confidence is the call's."""
    negative, conf, source, why = decide_polarity(Vote(0.97, rot(0, 1)), Vote(0.6, rot(0, 1)), GATE)
    assert negative and conf == 0.97 and source == "shipped+collection" and why == ""
    assert "uncertain" in decide_polarity(Vote(0.3, rot(0, 1)), None, GATE)[3]
    assert decide_polarity(Vote(0.03, rot(0, 1)), None, GATE) == (False, 0.97, "shipped", "")
    # Two votes at 0.8 each stay at 0.8: review.
    assert decide_polarity(Vote(0.8, rot(0, 1)), Vote(0.8, rot(0, 1)), GATE)[1:4:2] == (
        0.8,
        "polarity uncertain (P=0.800; shipped P(negative)=0.800, collection P(negative)=0.800)",
    )


def test_a_collection_agreeing_with_an_unsure_shipped_call_confirms_nothing() -> None:
    """The collection model learned from the shipped calls: agreeing with an unsure one (as on
    an augmented paediatric test film, shipped 0.573, collection 0.968, both wrong) keeps the
    shipped confidence, so the film goes to review."""
    negative, conf, _, why = decide_polarity(Vote(0.573, rot(0, 1)), Vote(0.968, rot(0, 1)), GATE)
    assert negative and conf == 0.573 and why.startswith("polarity uncertain (P=0.573;")
    # A sure shipped call with an agreeing collection is decided at the surer confidence.
    assert decide_polarity(Vote(0.95, rot(0, 1)), Vote(0.99, rot(0, 1)), GATE)[1:4:2] == (0.99, "")


def test_a_weak_dissent_discounts_the_polarity_call_instead_of_vetoing_it() -> None:
    """The confidence left is sigmoid(|l_best| - |l_against|): odds 999 against odds 7/3."""
    negative, conf, _, why = decide_polarity(Vote(0.999, rot(0, 1)), Vote(0.3, rot(0, 1)), GATE)
    assert negative and why == ""
    assert conf == pytest.approx(999 / (999 + 7 / 3), rel=1e-9)
    # The collection model makes the call when it is the surer one.
    negative, conf, _, why = decide_polarity(Vote(0.3, rot(0, 1)), Vote(0.99, rot(0, 1)), GATE)
    assert negative and why == "" and conf == pytest.approx(99 / (99 + 7 / 3), rel=1e-9)
    # A dissent that leaves too little: odds 97/3 against 4 -> P = 0.890 < 0.9, review.
    negative, conf, _, why = decide_polarity(Vote(0.97, rot(0, 1)), Vote(0.2, rot(0, 1)), GATE)
    assert conf == pytest.approx((97 / 3) / (97 / 3 + 4), rel=1e-9)
    assert why.startswith("polarity uncertain (P=0.890;")


def test_a_sure_dissent_sends_the_polarity_to_review() -> None:
    negative, conf, _, why = decide_polarity(Vote(0.97, rot(0, 1)), Vote(0.05, rot(0, 1)), GATE)
    assert why.startswith("polarity votes disagree") and conf == 0.5
    assert negative  # with review_below 0, a disputed polarity follows the shipped network
    negative, _, _, why = decide_polarity(Vote(0.08, rot(0, 1)), Vote(0.9999, rot(0, 1)), GATE)
    assert not negative and "disagree" in why


def test_an_out_of_distribution_shipped_vote_may_oppose_but_never_decide() -> None:
    coll = Vote(0.95, rot(0, 1))
    # The gated network is sure of the opposite: review (before, the collection decided).
    negative, _, source, why = decide_polarity(None, coll, GATE, gated=Vote(0.02, rot(0, 1)))
    assert negative and source == "collection" and why.startswith("polarity votes disagree")
    assert "shipped (out of distribution) P(negative)=0.020" in why
    # A weak gated dissent discounts: odds 19 against 1.5 -> 0.927, decided.
    negative, conf, _, why = decide_polarity(None, coll, GATE, gated=Vote(0.4, rot(0, 1)))
    assert negative and why == "" and conf == pytest.approx(19 / 20.5, rel=1e-9)
    # A gated vote that agrees never raises the collection's confidence.
    _, conf, _, why = decide_polarity(None, Vote(0.85, rot(0, 1)), GATE, Vote(0.999, rot(0, 1)))
    assert conf == 0.85 and why.startswith("polarity uncertain")


def test_the_collection_model_is_flattened_when_it_disagrees_with_sure_shipped_calls() -> None:
    """calibrate_to_shipped: a collection model that agrees with the shipped networks' sure calls
    keeps its probabilities (T = 1, never sharpened); one that contradicts them on a third of
    them is flattened, so its dissent weighs less; with fewer than 10 sure calls it is left as
    it is."""
    from radsynth.data.filmchecks import MIN_ANCHORS, calibrate_to_shipped

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 8, 60)
    probs = np.full((60, 8), 0.01 / 7)
    probs[np.arange(60), labels] = 0.99
    same, t = calibrate_to_shipped(probs, labels)
    assert t == 1.0 and np.array_equal(same, probs)
    contradicted = labels.copy()
    contradicted[::3] = (labels[::3] + 2) % 8  # the shipped networks say otherwise on 20 films
    flat, t = calibrate_to_shipped(probs, contradicted)
    assert t > 1.5 and flat.max() < 0.99 and np.array_equal(flat.argmax(1), labels)
    np.testing.assert_allclose(flat.sum(1), 1.0)
    # The fitted temperature minimises the NLL: nudging it either way does not lower it.
    z = np.log(probs)

    def nll(temp: float) -> float:
        p = np.exp(z / temp) / np.exp(z / temp).sum(1, keepdims=True)
        return float(-np.log(p[np.arange(60), contradicted]).mean())

    assert nll(t) <= min(nll(t * 1.05), nll(t / 1.05)) + 1e-9
    few = np.full(60, -1)
    few[: MIN_ANCHORS - 1] = contradicted[: MIN_ANCHORS - 1]
    out, t = calibrate_to_shipped(probs, few)
    assert out is probs and t == 1.0


def test_a_film_is_not_inverted_and_turned_when_it_reads_upright_as_stored() -> None:
    """Issue 27's worst case: a wrong polarity call makes the rotation network read an upright
    film as turned by 180 degrees. Inverted and turned together only when the film as stored
    does not read upright; any other decision passes unchanged."""
    from radsynth.data.filmchecks import guard_inverted_and_turned as guard

    why = guard(True, 2, "", 0.97)
    assert why.startswith("polarity and rotation only together") and "P=0.970" in why
    assert guard(True, 2, "", 0.49) == ""  # the film as stored reads turned: applied
    assert guard(False, 2, "", 0.97) == ""  # a turn without inversion: not this rule's
    assert guard(True, 0, "", 0.97) == ""  # inverted, not turned
    assert guard(True, 2, "turn not certain enough", 0.97) == "turn not certain enough"
