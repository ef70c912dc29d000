"""The report's reviewers' section counts the films ingest kept out and what reviewers decided."""

from __future__ import annotations

import shutil

from review_helpers import review_client

from radsynth.report.review import reviewer_decisions


def test_report_shows_ingest_review(outputs, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert reviewer_decisions(run) is None
    shutil.copytree(outputs["data"], run / "data")
    sec = reviewer_decisions(run)
    assert "review.csv lists 6 films" in sec.headline and "decided 0 films" in sec.headline
    client = review_client(run / "review", ingest=run / "data")
    for source, choice in (("film-1.png", "inverted"), ("film-4.png", "exclude")):
        form = {"reviewer": "ann", "source_path": source, "choice": choice}
        assert client.post("/ingest/decide", form).status_code == 200
    client.close()
    sec = reviewer_decisions(run)
    assert "decided 2 films (1 brought back, 1 excluded)" in sec.headline
    table = sec.tables[-1]
    assert [r[:3] for r in table["rows"]] == [["film-1.png", "keep inverted", "ann"],
                                              ["film-4.png", "exclude", "ann"]]  # fmt: skip
