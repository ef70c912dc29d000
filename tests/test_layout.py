"""The run folder's layout lives in one module: radsynth/layout.py formats and parses every run
path and checkpoint folder name; no other module under src/ builds one (grepped here), neither
from a literal (``run / "samples"``) nor from a constant (``run / REVIEW_DIR``,
``KEPT = "kept"``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from radsynth.layout import RunLayout, checkpoint_folder, checkpoint_name, checkpoint_step

SRC = Path(__file__).resolve().parents[1] / "src" / "radsynth"

#: Modules still building run paths themselves, each with the change that removes it.
ALLOWED: set[str] = set()  # none

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
#: Files the layout names that other stages read: a constant holding one duplicates the layout.
RUN_FILES = (
    "review.csv",
    "pairs.csv",
    "neighbours.csv",
    "table_s1.csv",
    "screen.csv",
    "images.csv",
    "orientation.csv",
    "manifest.csv",
    "input_hashes.json",
)
_CONST = r"[A-Z][A-Z0-9_]+"
_LAYOUT_VAR = r"\b(run|layout|cfg\.run|self\.run|RunLayout\([^()]*\))"
PATTERNS = [
    re.compile(r"""["']step-"""),  # a checkpoint folder name: "step-", f"step-{...}"
    re.compile(r"""step-\{"""),
    re.compile(r"""\.r?split\(["']-["']"""),  # parsing "step-NNNNNNN" by hand
    re.compile(r"""/ ["']({})["']""".format("|".join(map(re.escape, RUN_ONLY)))),
    re.compile(
        _RUN_VAR + r"""\s*/\s*["']({})["']""".format("|".join(map(re.escape, SHARED_NAMES)))
    ),
    # A run path built from a constant: run / REVIEW_DIR, run.review / SCREEN_DECISIONS.
    re.compile(_RUN_VAR + r"\s*/\s*" + _CONST + r"\b"),
    re.compile(_LAYOUT_VAR + r"\.[a-z_]+\s*/\s*" + _CONST + r"\b"),
    # A module-level constant holding a name only a run folder has (KEPT = "kept"), a file the
    # layout names (PAIRS = "pairs.csv"), or a run folder (REVIEW_DIR = "review").
    re.compile(
        "^{}\\s*(:[^=]*)?=\\s*[\"']({})[\"']".format(
            _CONST, "|".join(map(re.escape, RUN_ONLY + RUN_FILES))
        )
    ),
    re.compile(
        "^{}_DIRS?\\s*(:[^=]*)?=\\s*[\"']({})[\"']".format(
            _CONST, "|".join(map(re.escape, SHARED_NAMES))
        )
    ),
    # A name read off a layout of no folder: REVIEW_DIR = RunLayout(Path()).review.name.
    re.compile(r"RunLayout\(\s*Path\(\s*\)\s*\)"),
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
    unnamed, gan = run.generator(), run.generator("gan")
    assert run.samples_of(unnamed.set_of(4)) == Path("r/samples/step-0000004")
    assert unnamed.checkpoint(4) == Path("r/train/checkpoints/step-0000004")
    assert unnamed.fid_samples_of(4) == Path("r/fid_sweep/samples/step-0000004")
    assert unnamed.choice == Path("r/checkpoints.json")
    assert run.kept_of(unnamed.set_of(4)).parent == run.kept
    assert run.split("val") == Path("r/data/val")
    # A named generator's folders, and its sets one folder deeper.
    assert gan.checkpoint(4) == Path("r/generators/gan/train/checkpoints/step-0000004")
    assert gan.fid == Path("r/generators/gan/fid_sweep/fid.csv")
    assert gan.choice == Path("r/generators/gan/checkpoints.json")
    assert run.kept_of(gan.set_of(4)) == Path("r/kept/gan/step-0000004")
    assert gan.set_of(4).name == "gan/step-0000004"
    assert run.state.name == "pipeline.json" and run.lock.name == "pipeline.lock"
    with pytest.raises(ValueError, match="no split 'valid'"):
        run.split("valid")


def test_the_grep_finds_a_run_path_built_from_a_constant() -> None:
    """Planted offences: a run path from a constant, a constant holding a run-only name or a
    file the layout names, a name read off a layout of no folder."""
    planted = [
        'REVIEW_DIR = "review"',
        "folder = run / REVIEW_DIR",
        'listed = run / SOMETHING_DIR / "review.csv"',
        "x = cfg.run / DATA_DIR",
        "path = run.review / SCREEN_DECISIONS",
        "path = RunLayout(run).audit / PAIRS_FILE",
        'KEPT = "kept"',
        "SAMPLES: str = 'samples'",
        'TABLE = "table_s1.csv"',
        'PAIRS = "pairs.csv"',
        'LISTED = "review.csv"',
        "REVIEW_DIR = RunLayout(Path()).review.name",
    ]
    for line in planted:
        assert _offences(line), line


def test_the_grep_leaves_legitimate_code_alone() -> None:
    legitimate = [
        'STAGE = "sample"',  # a stage's name, not a folder
        'STATE_FILE = "state.pt"',
        'FOLDER_COLUMN = "label"',
        "out = cfg.out / NAME",  # a stage's own output folder
        "path = folder / SCREEN_DECISIONS",  # a plain folder the caller chose
        "    kept = 3",  # a local variable
        '    names = ("kept", "samples")',  # not a constant at module level
        "x = run.screen_table",
        "total = run_count / N_MAX",
        "x = layout.review / name",
    ]
    for line in legitimate:
        assert not _offences(line), line


def test_the_layout_names_the_files_other_stages_read() -> None:
    from radsynth.fates.records import AUDIT_ADJUDICATION, SCREEN_DECISIONS

    run = RunLayout(Path("r"))
    assert run.data_review == Path("r/data/review.csv")
    assert run.audit_pairs == Path("r/audit/pairs.csv")
    assert run.fates_table == Path("r/keep/table_s1.csv")
    assert run.screen_table.parent == run.screen and run.orientation.parent == run.oriented
    assert run.screen_decisions.name == SCREEN_DECISIONS  # the review stage writes these
    assert run.audit_adjudication.name == AUDIT_ADJUDICATION
