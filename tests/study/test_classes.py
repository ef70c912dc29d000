"""A class-conditional study (``--finding-per-class``): each image stores its class, the finding
question names that class's finding, the export carries it, and ``radsynth stats`` reports the
shares per class. Study-wide studies (and upgraded version-1 ones) behave as before."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from class_inputs import ClassInputs, write_class_inputs
from sqlalchemy import select
from sqlalchemy.orm import Session
from study_helpers import StudyRef, read_csv, start
from v1_schema import make_v1_study

from radsynth.cli import main
from radsynth.errors import RadsynthError
from radsynth.study import db as t
from radsynth.study.classes import matched_choice, slot_classes
from radsynth.study.create import CreateStudyConfig, create_study
from radsynth.study.design import plan_items
from radsynth.study.migrate import open_study, read_version
from radsynth.study.simulate import SimulateConfig, simulated_findings

TEXTS = {"NORMAL": "no acute finding", "PNEUMONIA": "PNEUMONIA"}
#: The settings a study-wide study has always stored (before per-class studies existed).
STUDY_WIDE_META = {"design", "questions", "finding", "size_px", "seed", "groups",
                   "admin_token_sha256", "base_url", "allow_back", "practice", "consent",
                   "questionnaire", "csrf_secret"}  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> ClassInputs:
    return write_class_inputs(tmp_path_factory.mktemp("classes"))


def make(out: Path, inputs: ClassInputs, db: str | None, **kw) -> StudyRef:
    """A 4-item quartet study with 2 raters, per class unless ``finding_per_class=False``."""
    options = {"items": 4, "raters": 2, "size_px": 32, "questions": ("finding",),
               "finding_per_class": True, **kw}  # fmt: skip
    if options["finding_per_class"]:
        options.setdefault("class_finding", ("NORMAL=no acute finding",))
    create_study(CreateStudyConfig(
        out=out, real=inputs.real, db=db,
        synthetic=tuple(f"{k}={v}" for k, v in inputs.synthetic.items()), **options,
    ))  # fmt: skip
    tokens = [r["url"].rsplit("/", 1)[1] for r in read_csv(out / "links.csv")]
    admin = (out / "admin.txt").read_text().split()[1]
    return StudyRef(out, db or f"sqlite:///{out / 'study.db'}", tokens, admin)


def _images_and_meta(url: str) -> tuple[dict[str, SimpleNamespace], dict[str, str]]:
    """Every image's group, source, label and original_id by id; the study settings."""
    engine = open_study(url)
    with Session(engine) as s:
        images = {i.id: SimpleNamespace(group=i.group, source=i.source, label=i.label,
                                        original_id=i.original_id)
                  for i in s.scalars(select(t.Image))}  # fmt: skip
        meta = {m.key: m.value for m in s.scalars(select(t.Meta))}
    engine.dispose()
    return images, meta


def _item_labels(url: str) -> dict[int, tuple[str, list[str | None]]]:
    """item id -> (kind, the classes of its images in position order)."""
    engine = open_study(url)
    with Session(engine) as s:
        rows = s.execute(
            select(t.Item.id, t.Item.kind, t.Image.label)
            .join(t.ItemImage, t.ItemImage.item_id == t.Item.id)
            .join(t.Image, t.Image.id == t.ItemImage.image_id)
            .order_by(t.Item.id, t.ItemImage.position)
        ).all()
    engine.dispose()
    out: dict[int, tuple[str, list[str | None]]] = {}
    for item, kind, label in rows:
        out.setdefault(item, (kind, []))[1].append(label)
    return out


def test_single_design_deals_classes_evenly_per_group() -> None:
    plans = plan_items(["real", "ckA", "ckB"], 12, "single", 2, 2, seed=4, n_practice=3)
    slots = slot_classes(plans, ["NORMAL", "PNEUMONIA"], seed=4)
    assert slots == slot_classes(plans, ["NORMAL", "PNEUMONIA"], seed=4)  # seed-determined
    for group in ("real", "ckA", "ckB"):
        dealt = Counter(c for (g, _), c in slots.items() if g == group)
        assert abs(dealt["NORMAL"] - dealt["PNEUMONIA"]) <= 1 and sum(dealt.values()) >= 5
    assert not any(g == "attention" for g, _ in slots)
    pools = {g: {Path(f"{g}/{k}.png"): ("NORMAL", "PNEUMONIA")[k % 2] for k in range(4)}
             for g in ("real", "ckA", "ckB")}  # fmt: skip
    with pytest.raises(RadsynthError, match="real set has 2 NORMAL image"):
        matched_choice(slots, pools, seed=4)


def _answer_all(client: httpx.Client, token: str) -> list[dict]:
    """Answer every screen through the JSON API: finding "yes" on odd positions. Returns the
    item views as served."""
    assert start(client, token) == "items"
    views = []
    while (seq := client.get(f"/api/r/{token}/next").json()["seq"]) is not None:
        view = client.get(f"/api/r/{token}/item/{seq}").json()
        ids = view["image_ids"]
        body = {
            "version": 0,
            "picked": ids[0],
            "ratings": dict.fromkeys(ids, 3),
            "finding": {i: "yes" if k % 2 == 0 else "no" for k, i in enumerate(ids)},
        }
        r = client.post(f"/api/r/{token}/item/{seq}", json=body)
        assert r.status_code == 200, r.text
        views.append(view)
    return views


def test_per_class_study_from_create_to_stats(inputs, db_url, serve, tmp_path) -> None:
    study = make(tmp_path / "study", inputs, db_url, attention_checks=1, repeats=1)
    images, meta = _images_and_meta(study.db)
    assert meta["finding_per_class"] == "1" and json.loads(meta["class_findings"]) == TEXTS
    for image in images.values():
        if image.group == "real":
            assert image.label == inputs.real_class[image.source]
        elif image.group == "attention":
            assert image.label is None
        else:
            assert image.label == inputs.synthetic_class[f"{image.group}/{image.source}"]
        if image.original_id:  # a repeat shows the same picture, so the same class
            assert image.label == images[image.original_id].label
    # Class-matched: one class per item (attention noise has none), main items 2 + 2.
    per_item = _item_labels(study.db)
    assert all(len(set(labels) - {None}) == 1 for _, labels in per_item.values())
    assert Counter(labels[0] for kind, labels in per_item.values() if kind == "main") == {
        "NORMAL": 2, "PNEUMONIA": 2,
    }  # fmt: skip
    manifest = json.loads((study.out / "manifest.json").read_text())
    recorded = {Path(i["path"]).name for i in manifest["inputs"]}
    assert "manifest.csv" in recorded and any(n.endswith(".json") for n in recorded)
    assert sum(manifest["classes"]["real"].values()) == len(
        [i for i in images.values() if i.group == "real"]
    )
    # Each image's question names its own class's finding (attention noise: the study-wide one).
    srv = serve(study)
    client = httpx.Client(base_url=srv.url)
    views = _answer_all(client, study.tokens[0])
    asked = {i: text for v in views for i, text in v["finding_text"].items()}
    assert asked == {i: TEXTS[im.label] if im.label else "the stated finding"
                     for i, im in images.items() if i in asked}  # fmt: skip
    assert {images[i].label for i in asked} == {"NORMAL", "PNEUMONIA", None}
    # An answer without a finding for every image is refused, as before.
    other = study.tokens[1]
    start(client, other)
    view = client.get(f"/api/r/{other}/item/1").json()
    ids = view["image_ids"]
    body = {"version": 0, "picked": ids[0], "ratings": dict.fromkeys(ids, 3),
            "finding": dict.fromkeys(ids[1:], "yes")}  # fmt: skip
    r = client.post(f"/api/r/{other}/item/1", json=body)
    assert r.status_code == 400 and "finding on every image" in r.text
    assert main(["study", "simulate", str(study.out), "--raters", "3", "--db", study.db]) == 0
    assert main(["study", "export", str(study.out), "--db", study.db]) == 0
    rows = read_csv(study.out / "export.csv")
    assert all(r["label"] == (images[r["image_id"]].label or "") for r in rows)
    mine = [r for r in rows if r["rater"] == "rater-01"]
    assert len(mine) == sum(len(v["image_ids"]) for v in views)
    assert all(r["finding"] == ("yes" if int(r["position"]) % 2 else "no") for r in mine)
    sim = [r for r in rows if r["rater_kind"] == "simulated"]
    assert {r["finding"] for r in sim if r["group"] == "attention"} == {"no"}
    assert {r["finding"] for r in sim if r["group"] != "attention"} == {"yes", "no"}
    out = tmp_path / "stats"
    assert main(["stats", str(study.out / "export.csv"), "--out", str(out), "--n-boot", "20",
                 "--rater-kind", "simulated"]) == 0  # fmt: skip
    res = json.loads((out / "stats.json").read_text())["finding_by_class"]
    assert res["classes"] == ["NORMAL", "PNEUMONIA"]
    main_sim = [r for r in sim if r["item_kind"] == "main"]
    expect = Counter((r["label"], r["group"]) for r in main_sim if r["finding"] == "yes")
    seen = Counter((r["label"], r["group"]) for r in main_sim)
    got = {(s["class"], s["group"]): (s["yes"], s["n"]) for s in res["shares"]}
    assert got == {k: (expect[k], n) for k, n in seen.items()}
    assert {(w["class"], w["group"]) for w in res["wilcoxon"]} <= set(got)
    assert (out / "finding_by_class.csv").is_file()


def test_study_wide_study_is_unchanged(inputs, db_url, serve, tmp_path) -> None:
    """No classes: the settings, the question, the simulated answers and the stats as before."""
    study = make(tmp_path / "study", inputs, db_url, finding_per_class=False)
    images, meta = _images_and_meta(study.db)
    assert set(meta) == STUDY_WIDE_META
    assert {i.label for i in images.values()} == {None}
    srv = serve(study)
    client = httpx.Client(base_url=srv.url)
    start(client, study.tokens[0])
    page = client.get(f"/r/{study.tokens[0]}/item/1").text
    question = 'Shows <span class="finding-text">the stated finding</span>?'
    assert page.count(question) == 3  # 1 real + 2 synthetic sets
    instructions = client.get(f"/r/{study.tokens[1]}/instructions").text
    assert "also say whether it shows the stated finding." in instructions
    assert main(["study", "simulate", str(study.out), "--db", study.db]) == 0
    assert main(["study", "export", str(study.out), "--db", study.db]) == 0
    rows = read_csv(study.out / "export.csv")
    assert {r["finding"] for r in rows} == {"yes"} and {r["label"] for r in rows} == {""}
    assert main(["stats", str(study.out / "export.csv"), "--out", str(tmp_path / "s"),
                 "--n-boot", "20"]) == 0  # fmt: skip
    assert "finding_by_class" not in json.loads((tmp_path / "s" / "stats.json").read_text())
    assert not (tmp_path / "s" / "finding_by_class.csv").exists()


def test_study_wide_simulated_findings_draw_nothing() -> None:
    """Simulated raters of a study-wide study give the same answers as before: "yes" for all,
    and the random stream (ratings, times) is not touched."""
    rng, fresh = np.random.default_rng(3), np.random.default_rng(3)
    found = simulated_findings(["real", "ckA"], ["a", "b"], False, SimulateConfig(Path()), rng)
    assert found == {"a": "yes", "b": "yes"} and rng.random() == fresh.random()


def _broken_set(root: Path, inputs: ClassInputs) -> Path:
    folder = root / "nolabel"
    (folder / "meta").mkdir(parents=True)
    for png in sorted(inputs.synthetic["ckA"].glob("*.png")):
        (folder / png.name).write_bytes(png.read_bytes())
        (folder / "meta" / f"{png.stem}.json").write_text('{"image": "x.png", "seed": 0}')
    return folder


@pytest.mark.parametrize(("options", "message"), [
    ({"questions": ()}, "add --questions finding"),
    ({"finding_per_class": False, "class_finding": ("NORMAL=x",)}, "given without"),
    ({"finding_per_class": False, "label_columns": ("sex",)}, "given without"),
    ({"class_finding": ("NORMLA=no acute finding",)}, "NORMLA that no image has"),
    ({"class_finding": ("NORMAL",)}, "--class-finding wants CLASS=TEXT"),
    ({"label_columns": ("sex",)}, "has no label column 'sex'"),
    ({"synthetic_meta": ("ckZ=/nowhere",)}, "--synthetic-meta wants NAME=DIR"),
    ({"synthetic_meta": ("ckA=EMPTY",)}, "no sampling sidecar"),
    ({"synthetic_meta": ("ckA=NOLABEL",)}, "has no class"),
    ({"real_manifest": "TRAINONLY"}, "no row of"),
])  # fmt: skip
def test_bad_class_inputs_are_refused_and_write_nothing(inputs, tmp_path, options, message) -> None:
    (tmp_path / "empty").mkdir()
    broken = _broken_set(tmp_path, inputs)
    train_only = tmp_path / "manifest.csv"
    lines = inputs.manifest.read_text().splitlines()
    train_only.write_text("\n".join(x for x in lines if "val/" not in x) + "\n")
    swap = {"EMPTY": str(tmp_path / "empty"), "NOLABEL": str(broken / "meta")}
    if "synthetic_meta" in options:
        name, folder = options["synthetic_meta"][0].split("=")
        options["synthetic_meta"] = (f"{name}={swap.get(folder, folder)}",)
    if options.get("real_manifest") == "TRAINONLY":
        options["real_manifest"] = train_only
    out = tmp_path / "study"
    with pytest.raises(RadsynthError, match=message):
        make(out, inputs, None, **options)
    assert not out.exists()


def test_older_databases_open_with_the_study_wide_question(db_url, serve, tmp_path) -> None:
    """A version-1 database is upgraded; a version-2 one made before per-class studies opens
    untouched. Both ask the study-wide question."""
    url = db_url or f"sqlite:///{tmp_path / 'study.db'}"
    make_v1_study(url, "r" * 43, "a" * 43)
    srv = serve(StudyRef(tmp_path, url, ["r" * 43], "a" * 43))
    client = httpx.Client(base_url=srv.url)
    token = "r" * 43
    start(client, token)
    view = client.get(f"/api/r/{token}/item/2").json()
    assert set(view["finding_text"].values()) == {"the stated finding"}
    engine = open_study(url)
    assert read_version(engine) == t.SCHEMA_VERSION == 2
    engine.dispose()


def test_current_v2_database_opens_without_migration(inputs, db_url, tmp_path) -> None:
    """Per-class studies leave version 2's tables as they were (the class lives in
    ``image.label``, the texts in ``meta``): a version-2 database made by the study-wide code
    opens untouched, with no upgrade and no backup."""
    study = make(tmp_path / "s", inputs, db_url, finding_per_class=False)
    engine = open_study(study.db)
    assert read_version(engine) == t.SCHEMA_VERSION == 2
    engine.dispose()
    assert not list((tmp_path / "s").glob("*.bak"))


def test_rater_answers_each_images_class_question_in_chromium(
    inputs, serve, browser, tmp_path
) -> None:
    """In real Chromium: the instructions say the finding differs per image, every card names
    its image's class's finding, and Y/N answers it; the export holds those answers."""
    from playwright.sync_api import expect

    study = make(tmp_path / "study", inputs, None, items=2)
    images, _ = _images_and_meta(study.db)
    srv = serve(study)
    page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    page.goto(f"{srv.url}/r/{study.tokens[0]}")
    expect(page.locator("#instructions")).to_contain_text("The finding differs from image to image")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    said = {}
    for n in (1, 2):
        expect(page.locator("#progress")).to_contain_text(f"Item {n} of 2")
        ids = [src.rsplit("/", 1)[1] for src in page.locator(".viewer img").evaluate_all(
            "els => els.map(e => e.getAttribute('src'))")]  # fmt: skip
        page.keyboard.press("1")
        for pos, image_id in enumerate(ids, start=1):
            card = page.locator(f"#card-{pos}")
            expect(card.locator(".finding legend")).to_have_text(
                f"Shows {TEXTS[images[image_id].label]}?"
            )
            page.keyboard.press("d")
            key = "y" if images[image_id].label == "NORMAL" else "n"
            page.keyboard.press(key)
            assert card.locator(
                f".finding input[value={'yes' if key == 'y' else 'no'}]"
            ).is_checked()
            said[image_id] = "yes" if key == "y" else "no"
        with page.expect_navigation():
            page.keyboard.press("Enter")
    expect(page.locator("#finish")).to_contain_text("answered 2 of 2")
    assert main(["study", "export", str(study.out)]) == 0
    rows = read_csv(study.out / "export.csv")
    assert {r["image_id"]: r["finding"] for r in rows} == said
    assert len(rows) == 6 and all(r["label"] == images[r["image_id"]].label for r in rows)


def test_same_seed_same_class_matched_study(inputs, tmp_path) -> None:
    """Which picture (and class) stands where depends on the seed alone."""

    def layout(out: Path, seed: int) -> list:
        study = make(out, inputs, None, seed=seed, design="single", items=6)
        engine = open_study(study.db)
        with Session(engine) as s:
            rows = s.execute(
                select(t.ItemImage.item_id, t.Image.group, t.Image.source, t.Image.label)
                .join(t.Image, t.Image.id == t.ItemImage.image_id)
                .order_by(t.ItemImage.item_id, t.ItemImage.position)
            ).all()
        engine.dispose()
        return [tuple(r) for r in rows]

    first = layout(tmp_path / "a", 7)
    assert first == layout(tmp_path / "b", 7)
    assert first != layout(tmp_path / "c", 8)
    assert Counter(label for *_, label in first) == {"NORMAL": 3, "PNEUMONIA": 3}
