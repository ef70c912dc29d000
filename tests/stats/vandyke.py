"""The Van Dyke et al. (1993) cine MRI vs spin-echo MRI data set (Dorfman, Berbaum & Metz 1992
use it as their example): 2 modalities, 5 readers, 114 cases (69 normal, 45 abnormal), ratings
1-5.

Transcribed from ``inst/MRMCRuns/VD/VD.lrc`` in the RJafroc repository (dpc10ster/RJafroc,
commit 7f41cf79), the OR-DBM MRMC input file. Each string lists one reader's cases in file
order; each two-digit token is (rating under modality "0", rating under modality "1") of one
case. These are data values, not code.
"""

from __future__ import annotations

# reader -> (69 normal cases, 45 abnormal cases)
_PAIRS = {
    "0": (
        "13 23 23 12 52 12 12 12 13 12 11 13 41 12 12 12 12 12 12 11 11 11 31 11 34 12 11 23 "
        "11 42 12 11 14 13 12 33 11 22 13 21 12 12 22 33 33 11 31 11 13 33 33 11 11 13 14 11 "
        "12 24 22 11 12 14 11 34 34 22 11 11 11",
        "55 53 55 55 45 55 55 55 44 55 55 55 45 34 44 23 43 55 55 55 55 55 55 55 13 55 45 43 "
        "55 45 55 55 34 54 55 55 15 13 55 55 55 45 45 55 11",
    ),
    "1": (
        "23 32 22 22 22 22 22 22 23 32 22 22 52 22 22 21 32 22 22 22 21 22 22 22 43 22 22 22 "
        "22 32 22 21 22 22 21 22 22 22 22 22 23 21 22 22 23 22 22 22 22 22 22 22 22 22 23 22 "
        "22 43 32 22 22 32 22 22 22 22 21 22 22",
        "55 33 55 55 55 55 55 45 22 55 55 55 43 44 24 22 24 55 54 55 55 55 54 55 22 45 32 33 "
        "55 45 55 53 22 44 22 55 25 22 55 55 55 55 35 55 22",
    ),
    "2": (
        "22 24 22 22 32 52 13 12 22 22 41 21 41 23 22 22 32 22 21 22 11 21 32 21 44 11 11 35 "
        "21 22 11 11 22 21 22 42 12 21 12 42 12 21 11 13 22 21 21 21 22 23 33 21 11 13 22 12 "
        "11 22 23 12 13 54 11 42 24 12 21 12 21",
        "55 42 55 55 55 55 55 55 55 55 55 55 53 45 24 31 54 55 55 55 55 55 55 55 22 55 23 23 "
        "55 55 55 54 23 55 55 55 25 23 54 55 55 55 55 55 21",
    ),
    "3": (
        "12 12 11 11 11 11 33 11 12 11 11 11 11 12 12 11 11 11 12 11 21 11 11 11 23 12 11 12 "
        "11 22 11 11 11 11 12 12 11 11 12 11 11 11 11 11 12 11 12 11 32 31 12 12 11 11 11 11 "
        "11 12 11 12 11 11 11 33 12 13 12 11 11",
        "55 54 55 55 55 55 55 55 54 55 55 55 54 55 55 15 55 55 55 55 55 55 55 55 54 55 45 54 "
        "44 45 55 55 35 55 55 55 15 23 55 55 55 55 55 55 55",
    ),
    "4": (
        "32 52 13 21 12 12 12 12 21 22 22 12 21 11 11 12 22 22 11 12 32 22 21 12 13 12 12 23 "
        "12 11 22 11 12 22 32 12 21 21 12 11 12 31 31 33 22 11 12 12 23 13 12 11 12 12 12 12 "
        "11 32 42 12 22 33 11 22 13 23 11 11 31",
        "55 22 55 24 55 55 55 55 15 54 45 55 43 54 23 23 33 55 55 55 55 55 55 45 12 45 41 33 "
        "23 22 15 53 12 55 14 55 15 13 53 55 55 35 55 55 23",
    ),
}


def vandyke_rows() -> list[dict[str, str]]:
    """The data set in long form: one dict per reader x modality x case (1,140 rows)."""
    rows = []
    for reader, (normal, abnormal) in _PAIRS.items():
        for truth, text, prefix in ((0, normal, "n"), (1, abnormal, "a")):
            for k, pair in enumerate(text.split(), start=1):
                for modality, rating in zip(("0", "1"), pair, strict=True):
                    rows.append(
                        {
                            "reader": reader,
                            "modality": modality,
                            "case": f"{prefix}{k}",
                            "truth": str(truth),
                            "rating": rating,
                        }
                    )
    return rows
