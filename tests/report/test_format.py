"""Numbers as the report prints them."""

from __future__ import annotations

from radsynth.report.sections import fmt_p, p_clause


def test_p_values_read_as_sentences() -> None:
    assert p_clause(0.0004) == "p < 0.001"
    assert p_clause(0.0391) == "p = 0.039"
    assert fmt_p(0.0004) == "< 0.001"
    assert p_clause(float("nan")) == "p = not defined"
