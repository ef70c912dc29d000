"""The run folder's layout lives in one module: radsynth/layout.py formats and parses every run
path and checkpoint folder name; no other module under src/ builds one (grepped here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from radsynth.layout import RunLayout, checkpoint_folder, checkpoint_name, checkpoint_step

SRC = Path(__file__).resolve().parents[1] / "src" / "radsynth"

#: Modules still building run paths themselves. The lead removes these two entries when the
#: evaluation/ package (issue 17, branch `evaluation`) is wired to RunLayout.
#: training/train.py logs a checkpoint's name by hand (line 327); it belongs to the same branch.
ALLOWED: set[str] = set()

#: Names only a run folder has: a path ending in one of them is a run path, whatever precedes.
RUN_ONLY = (
    "samples", "samples-unused", "oriented", "kept", "kept_as_generated", "keep", "fid_sweep",
    "real_oriented", "phantoms", "pipeline.json", "pipeline.lock", "checkpoints.json",
    "report.html",
)  # fmt: skip
#: Names other folders have too (a bench's own train/, a stage's meta/): a run path when they
#: follow a run folder variable.
SHARED_NAMES = (
    "data", "train", "val", "test", "checkpoints", "meta", "review", "study", "stats",
    "release", "utility", "audit", "screen",
)  # fmt: skip
_RUN_VAR = r"\b(run|run_dir|run_root|cfg\.run|self\.run)"
PATTERNS = [
    re.compile(r"""["']step-"""),  # a checkpoint folder name: "step-", f"step-{...}"
    re.compile(r"""step-\{"""),
    re.compile(r"""\.r?split\(["']-["']"""),  # parsing "step-NNNNNNN" by hand
    re.compile(r"""/ ["']({})["']""".format("|".join(map(re.escape, RUN_ONLY)))),
    re.compile(
        _RUN_VAR + r"""\s*/\s*["']({})["']""".format("|".join(map(re.escape, SHARED_NAMES)))
    ),
]


def _offences(text: str) -> list[str]:
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        if any(p.search(code) for p in PATTERNS) and '"""' not in code:
            lines.append(f"{number}: {line.strip()}")
    return lines


def test_no_module_but_layout_builds_a_run_path() -> None:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "layout.py" or rel in ALLOWED:
            continue
        if lines := _offences(path.read_text(encoding="utf-8")):
            found[rel] = lines
    assert not found, "run paths built outside radsynth/layout.py:\n" + "\n".join(
        f"{rel}:{line}" for rel, lines in found.items() for line in lines
    )


def test_the_grep_finds_what_it_looks_for() -> None:
    assert _offences('x = run / "samples" / name')
    assert _offences('x = cfg.run / "data" / "train"')
    assert not _offences('x = bench_dir / "train"')  # a bench's own folder
    assert _offences('name = f"step-{step:07d}"')
    assert _offences("steps = int(p.name.split('-')[-1])")
    assert _offences('step = int(path.name.rsplit("-", 1)[1])')
    assert not _offences('x = layout.samples_of(step)  # not / "samples"')


def test_checkpoint_names_round_trip() -> None:
    assert checkpoint_name(68000) == "step-0068000"
    assert checkpoint_step("step-0068000") == 68000
    assert checkpoint_step("step-12345678") == 12345678  # past 7 digits the name grows
    for name in ("step-68000", "step-0068000.stale-1", "samples", "step-00680a0"):
        assert checkpoint_step(name) is None
    assert checkpoint_folder(Path("t"), 2) == Path("t/checkpoints/step-0000002")
    with pytest.raises(ValueError):
        checkpoint_name(-1)


def test_the_layout_names_every_folder_of_a_run() -> None:
    run = RunLayout(Path("r"))
    assert run.samples_of(4) == Path("r/samples/step-0000004")
    assert run.checkpoint(4) == Path("r/train/checkpoints/step-0000004")
    assert run.fid_samples_of(4) == Path("r/fid_sweep/samples/step-0000004")
    assert run.kept_of(4).parent == run.kept and run.split("val") == Path("r/data/val")
    assert run.state.name == "pipeline.json" and run.lock.name == "pipeline.lock"
    with pytest.raises(ValueError, match="no split 'valid'"):
        run.split("valid")
