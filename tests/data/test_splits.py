"""Seeded group-aware train/val splits."""

from __future__ import annotations

import pytest

from radsynth.data.splits import compile_group_regex, extract_group, split_groups
from radsynth.errors import RadsynthError


def test_fraction_seed_and_groups() -> None:
    groups = [f"p{i // 3}" for i in range(60)] + [""] * 40  # 20 patients x 3 + 40 singletons
    splits = split_groups(groups, 0.15, seed=0)
    assert splits == split_groups(groups, 0.15, seed=0)
    assert splits != split_groups(groups, 0.15, seed=1)
    assert 15 <= splits.count("val") <= 17  # 15 targeted; whole patients only
    for g in {g for g in groups if g}:
        assert len({s for s, h in zip(splits, groups, strict=True) if h == g}) == 1
    assert split_groups(groups, 0.0, seed=0).count("val") == 0


def test_regex_groups() -> None:
    regex = compile_group_regex(r"person(\d+)_")
    assert extract_group(regex, "PNEUMONIA/person124_virus_3.png") == "124"
    assert extract_group(regex, "NORMAL/IM-0001.png") == ""
    assert extract_group(compile_group_regex(r"IM-\d+"), "a/IM-0001-0002.png") == "IM-0001"
    assert compile_group_regex(None) is None
    with pytest.raises(RadsynthError, match="not a valid regex"):
        compile_group_regex("person(")
