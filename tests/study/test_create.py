"""``radsynth study create/export/simulate`` on a handful of images: files, determinism, errors."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from study_helpers import read_csv

from radsynth.cli import main
from radsynth.errors import RadsynthError
from radsynth.study import db as t
from radsynth.study.app import create_app


def _create(out: Path, cxr_dir: Path, syn: dict[str, Path], *extra: str) -> int:
    """``study create`` with 4 items, 3 raters and seed 11, unless ``extra`` (flag, value
    pairs) sets them: the CLI refuses a flag given twice."""
    flags = {"--items": "4", "--raters": "3", "--seed": "11"}
    flags.update(zip(extra[::2], extra[1::2], strict=True))
    return main([
        "study", "create", str(out), "--real", str(cxr_dir), "--synthetic",
        *(f"{k}={v}" for k, v in syn.items()), *(x for kv in flags.items() for x in kv),
    ])  # fmt: skip


def _layout(out: Path) -> list:
    """Everything seed-determined: per item the (group, source) at each position, and orders."""
    engine = t.make_engine(f"sqlite:///{out / 'study.db'}")
    with Session(engine) as s:
        images = {i.id: (i.group, i.source) for i in s.scalars(select(t.Image))}
        items = [
            (ii.item_id, ii.position, images[ii.image_id])
            for ii in s.scalars(select(t.ItemImage).order_by(t.ItemImage.item_id, "position"))
        ]
        orders = [(a.rater_id, a.seq, a.item_id) for a in s.scalars(select(t.Assignment))]
    engine.dispose()
    return [items, sorted(orders)]


def test_create_writes_study_and_is_deterministic(tmp_path, cxr_dir, synthetic_dirs) -> None:
    extra = ("--attention-checks", "1", "--repeats", "1", "--questions", "finding,cue")
    assert _create(tmp_path / "a", cxr_dir, synthetic_dirs, *extra) == 0
    assert _create(tmp_path / "b", cxr_dir, synthetic_dirs, *extra) == 0
    out = tmp_path / "a"
    for name in ("study.db", "links.csv", "admin.txt", "config.json", "manifest.json"):
        assert (out / name).is_file()
    assert stat.S_IMODE((out / "admin.txt").stat().st_mode) == 0o600
    links = read_csv(out / "links.csv")
    assert [r["rater"] for r in links] == ["rater-01", "rater-02", "rater-03"]
    assert all(len(r["url"].rsplit("/", 1)[1]) >= 40 for r in links)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["items"] == 6 and manifest["groups"] == ["real", "ckA", "ckB", "ckC"]
    # Latin square: 4 main quartets of 4 groups, so each group once at each position.
    items, _ = _layout(out)
    main_items = {1, 2, 3, 4}
    seen = {(pos, src[0]) for item_id, pos, src in items if item_id in main_items}
    assert len(seen) == 16
    # Same seed: same images, positions and orders; tokens and image ids are fresh secrets.
    assert _layout(tmp_path / "a") == _layout(tmp_path / "b")
    engine = t.make_engine(f"sqlite:///{out / 'study.db'}")
    with Session(engine) as s:
        assert s.get(t.Meta, "questions").value == "finding,cue"
    engine.dispose()
    assert (out / "links.csv").read_text() != (tmp_path / "b" / "links.csv").read_text()
    assert _create(tmp_path / "c", cxr_dir, synthetic_dirs, "--seed", "12") == 0
    assert _layout(tmp_path / "c") != _layout(tmp_path / "b")


@pytest.mark.parametrize(
    "extra",
    [("--items", "20"), ("--questions", "mood"), ("--raters", "0"), ("--repeats", "9")],
)
def test_create_rejects_bad_input_with_one_line(tmp_path, cxr_dir, synthetic_dirs, extra, capsys):
    assert _create(tmp_path / "x", cxr_dir, synthetic_dirs, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("radsynth study create: error:") and "\n" not in err


def test_create_refuses_bad_synthetic_spec_and_existing_output(tmp_path, cxr_dir, synthetic_dirs):
    assert _create(tmp_path / "x", cxr_dir, {"real": synthetic_dirs["ckA"]}) == 2
    assert _create(tmp_path / "y", cxr_dir, synthetic_dirs) == 0
    before = (tmp_path / "y" / "links.csv").read_text()
    assert _create(tmp_path / "y", cxr_dir, synthetic_dirs) == 2
    assert (tmp_path / "y" / "links.csv").read_text() == before


def test_server_refuses_other_schema_version(tmp_path, cxr_dir, synthetic_dirs) -> None:
    assert _create(tmp_path / "s", cxr_dir, synthetic_dirs) == 0
    url = f"sqlite:///{tmp_path / 's' / 'study.db'}"
    create_app(url).state.engine.dispose()
    engine = t.make_engine(url)
    with Session(engine) as s, s.begin():
        s.execute(update(t.SchemaVersion).values(version=t.SCHEMA_VERSION + 1))
    engine.dispose()
    with pytest.raises(RadsynthError, match="schema version"):
        create_app(url)
    with pytest.raises(RadsynthError, match="no reader study"):
        create_app(f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["study", "export", str(tmp_path / "s")]) == 2


def test_simulate_and_export_cli(tmp_path, cxr_dir, synthetic_dirs) -> None:
    for name in ("a", "b"):
        assert _create(tmp_path / name, cxr_dir, synthetic_dirs, "--design", "single") == 0
        assert (
            main(["study", "simulate", str(tmp_path / name), "--raters", "2", "--seed", "4"]) == 0
        )
        assert main(["study", "export", str(tmp_path / name)]) == 0
    rows = read_csv(tmp_path / "a" / "export.csv")
    assert len(rows) == 2 * 4 and {r["rater_kind"] for r in rows} == {"simulated"}
    assert {r["answer"] for r in rows} <= {"real", "fake", "unsure"}
    assert all(1 <= int(r["rating"]) <= 4 for r in rows)
    assert all(0.5 < float(r["seconds"]) < 100 for r in rows)

    def answers(name: str) -> list:
        engine = t.make_engine(f"sqlite:///{tmp_path / name / 'study.db'}")
        with Session(engine) as s:
            src = {i.id: i.source for i in s.scalars(select(t.Image))}
        engine.dispose()
        return sorted((r["rater"], src[r["image_id"]], r["answer"], r["rating"])
                      for r in read_csv(tmp_path / name / "export.csv"))  # fmt: skip

    # Same seeds: the same simulated answers for the same source images.
    assert answers("a") == answers("b")
    human = tmp_path / "h.csv"
    assert main(["study", "export", str(tmp_path / "a"), "--out", str(human),
                 "--rater-kind", "human"]) == 0  # fmt: skip
    assert len(human.read_text().splitlines()) == 1


def test_study_app_never_imports_torch() -> None:
    code = (
        "import sys, radsynth.study.app, radsynth.study.create, radsynth.study.serve, "
        "radsynth.study.export, radsynth.study.simulate; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_repeats_share_no_image_id_or_layout_with_their_originals(
    tmp_path, cxr_dir, synthetic_dirs
) -> None:
    assert _create(tmp_path / "r", cxr_dir, synthetic_dirs, "--items", "8", "--repeats", "3",
                   "--practice", "1") == 0  # fmt: skip
    engine = t.make_engine(f"sqlite:///{tmp_path / 'r' / 'study.db'}")
    with Session(engine) as s:
        images = {i.id: i for i in s.scalars(select(t.Image))}
        slots: dict[int, list[str]] = {}
        for ii in s.scalars(select(t.ItemImage).order_by(t.ItemImage.item_id, "position")):
            slots.setdefault(ii.item_id, []).append(ii.image_id)
        repeats = {
            i.id: i.repeat_of for i in s.scalars(select(t.Item).where(t.Item.kind == "repeat"))
        }
        orders = {}
        for a in s.scalars(select(t.Assignment)):
            orders.setdefault(a.rater_id, {})[a.item_id] = a.seq
        kinds = {i.id: i.kind for i in s.scalars(select(t.Item))}
    engine.dispose()
    assert len(repeats) == 3
    for rep, orig in repeats.items():
        new, old = slots[rep], slots[orig]
        assert not set(new) & set(old)  # no shared image id
        # The same pictures, each mapped back to its original, at other positions.
        assert [images[i].original_id for i in new] != old
        assert sorted(images[i].original_id for i in new) == sorted(old)
        assert all(images[i].png == images[images[i].original_id].png for i in new)
        assert [images[i].group for i in new] != [images[i].group for i in old]
        for order in orders.values():
            assert abs(order[rep] - order[orig]) >= (len(order) - 1) // 4
    # Practice comes first for every rater.
    assert all(kinds[min(o, key=o.get)] == "practice" for o in orders.values())


def test_practice_answers_never_reach_the_statistics(tmp_path, cxr_dir, synthetic_dirs) -> None:
    from radsynth.stats.responses import build_study, read_responses

    assert _create(tmp_path / "p", cxr_dir, synthetic_dirs, "--practice", "2") == 0
    assert main(["study", "simulate", str(tmp_path / "p"), "--raters", "3"]) == 0
    assert main(["study", "export", str(tmp_path / "p")]) == 0
    rows = read_responses(tmp_path / "p" / "export.csv")
    assert sum(r.item_kind == "practice" for r in rows) == 3 * 2 * 4
    study = build_study(rows)
    assert study.excluded_rows == {"practice": 24} and len(study.items) == 4
