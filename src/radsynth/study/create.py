"""``radsynth study create``: build a blinded reader study from a real and synthetic folders.

Writes into OUT:

- ``study.db``: the SQLite database (unless ``--db`` names another, mode 0600), holding every
  image re-encoded identically (:mod:`radsynth.study.images`), the items, each rater's seeded
  order and the study settings (practice, answer locking, consent text, questionnaire);
- ``links.csv`` (rater, kind, url) and ``admin.txt``: invitation and admin links with
  unguessable tokens (``secrets.token_urlsafe``), both readable by the owner only (mode 0600);
- ``db-password`` (mode 0600) when ``--db`` holds a password, which config.json never does;
- ``config.json`` and ``manifest.json``.

With ``--finding-per-class`` (a class-conditional run) each image stores its class and the
finding question names the image's own class's finding; see :mod:`radsynth.study.classes` for
where the classes come from and why every class gets the same question form. Without it the
study is exactly as before: one study-wide ``--finding``, no classes stored.

A repeat item shows the same pictures as its original under new opaque ids (``Image.original_id``
maps them back) at other positions, and each rater sees it far from the original.

The design (which images, positions, orders) depends on ``--seed`` alone. Tokens and opaque image
ids come from :mod:`secrets`, so they are new on every run and cannot be derived from the seed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from sqlalchemy.orm import Session

from radsynth.config import arg
from radsynth.data.imageio import RASTER_SUFFIXES, list_images, read_gray
from radsynth.errors import RadsynthError
from radsynth.records._csv import csv_text
from radsynth.stage import (
    StageResult,
    atomic_write_text,
    prepare_output_dir,
    sha256_file,
    write_manifest,
)
from radsynth.study import classes
from radsynth.study import db as tables
from radsynth.study.design import images_needed, plan_items
from radsynth.study.images import attention_image, blind_encode
from radsynth.study.links import add_raters
from radsynth.study.migrate import create_schema

STAGE = "study-create"
#: A synthetic set's name: a plain name, or GENERATOR/NAME as a run with several generators
#: names its sets (``gan/step-0004000``).
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,63})?$")


@dataclass(frozen=True)
class CreateStudyConfig:
    """Create a blinded reader study (clinical Turing test) from real and synthetic folders."""

    out: Path = arg(help="output folder for study.db, links.csv, admin.txt", positional=True)
    real: Path = arg(help="folder of real radiographs (searched recursively)")
    synthetic: tuple[str, ...] = arg(help="synthetic sets as NAME=DIR, one or more")
    design: Literal["quartet", "single"] = arg(
        "quartet", help="quartet: 1 real + 1 per synthetic set per item; single: one image"
    )
    items: int = arg(50, help="main items per rater (every rater sees every item)")
    raters: int = arg(8, help="number of invitation links to create")
    seed: int = arg(0, help="seed for image choice, Latin-square positions and item orders")
    questions: tuple[str, ...] = arg(
        (), help="optional per-image questions: finding (yes/no), cue (free text)"
    )
    finding: str = arg(
        "the stated finding",
        help="the finding the yes/no question names (with --finding-per-class: for images "
        "without a class, i.e. attention checks)",
    )
    finding_per_class: bool = arg(
        False, help="ask whether each image shows its own class's finding (conditional runs)"
    )
    class_finding: tuple[str, ...] = arg(
        (), help="CLASS=TEXT: the finding named for a class's images; default the class name"
    )
    real_manifest: Path | None = arg(
        None, help="ingest manifest.csv with the real images' classes; default REAL/../manifest.csv"
    )
    label_columns: tuple[str, ...] = arg(
        ("label",), help="manifest column(s) forming the class, joined by '|' as in training"
    )
    synthetic_meta: tuple[str, ...] = arg(
        (), help="NAME=DIR: sampling sidecar folder of a synthetic set; default SETDIR/meta"
    )
    attention_checks: int = arg(0, help="attention-check items (real vs obvious noise)")
    repeats: int = arg(0, help="main items shown twice, for intra-rater agreement")
    size_px: int = arg(0, help="side of every served image in pixels; 0 = the first real image's")
    db: str | None = arg(
        None,
        help="database URL; default sqlite:///OUT/study.db (a password "
        f"is kept in OUT/{tables.PASSWORD_FILE} or ${tables.PASSWORD_ENV})",
    )
    base_url: str = arg("http://127.0.0.1:8000", help="server address written into the links")
    practice: int = arg(0, help="practice items shown first, marked as practice, never analysed")
    allow_back: bool = arg(False, help="let raters go back and change answers (default: locked)")
    consent: Path | None = arg(None, help="consent text (Markdown/plain) raters must agree to")
    questionnaire: bool = arg(False, help="ask each rater's role, experience and subspecialty")


def parse_synthetic(specs: tuple[str, ...]) -> dict[str, Path]:
    """``("A=dir1", "B=dir2")`` -> ``{"A": Path("dir1"), ...}`` with checked names."""
    if not specs:
        raise RadsynthError("give at least one synthetic set as --synthetic NAME=DIR")
    sets: dict[str, Path] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not _NAME.match(name) or not folder:
            raise RadsynthError(
                f"--synthetic wants NAME=DIR with a plain name (or GENERATOR/NAME), got {spec!r}"
            )
        if name in ("real", "attention") or name in sets:
            raise RadsynthError(f"synthetic set name {name!r} is reserved or given twice")
        sets[name] = Path(folder)
    return sets


def _check(cfg: CreateStudyConfig) -> None:
    if cfg.items < 1 or cfg.raters < 1:
        raise RadsynthError("--items and --raters must be at least 1")
    if min(cfg.attention_checks, cfg.repeats, cfg.size_px, cfg.practice) < 0:
        raise RadsynthError("--attention-checks, --repeats, --practice, --size-px cannot be < 0")
    if cfg.consent is not None and not cfg.consent.is_file():
        raise RadsynthError(f"--consent file not found: {cfg.consent}")
    if cfg.repeats > cfg.items:
        raise RadsynthError(f"--repeats {cfg.repeats} is more than --items {cfg.items}")
    unknown = set(_questions(cfg)) - {"finding", "cue"}
    if unknown:
        raise RadsynthError(f"unknown question(s) {', '.join(sorted(unknown))}; use finding,cue")
    if cfg.finding_per_class and "finding" not in _questions(cfg):
        raise RadsynthError(
            "--finding-per-class asks the finding question: add --questions finding"
        )
    given = [
        name
        for name, value in (
            ("--class-finding", cfg.class_finding),
            ("--real-manifest", cfg.real_manifest),
            ("--synthetic-meta", cfg.synthetic_meta),
            ("--label-columns", cfg.label_columns != ("label",)),
        )
        if value
    ]
    if given and not cfg.finding_per_class:
        raise RadsynthError(f"{', '.join(given)} given without --finding-per-class")


def _questions(cfg: CreateStudyConfig) -> tuple[str, ...]:
    """``--questions finding,cue`` and ``--questions finding cue`` alike."""
    return tuple(q for part in cfg.questions for q in part.split(",") if q)


def _choose(folder: Path, n: int, name: str, rng: np.random.Generator) -> list[Path]:
    paths = list_images(folder, RASTER_SUFFIXES)
    if len(paths) < n:
        raise RadsynthError(f"{name} set {folder} has {len(paths)} images; the study needs {n}")
    return [paths[i] for i in sorted(rng.choice(len(paths), size=n, replace=False).tolist())]


def _class_counts(rows: list[tables.Image]) -> dict[str, dict[str, int]]:
    """``{group: {class: images}}`` of the stored images (repeats included), for the manifest."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        if row.label is not None:
            per = counts.setdefault(row.group, {})
            per[row.label] = per.get(row.label, 0) + 1
    return {g: dict(sorted(c.items())) for g, c in sorted(counts.items())}


def default_db_url(out: Path) -> str:
    return f"sqlite:///{(out / 'study.db').resolve()}"


def _write_private(path: Path, text: str) -> None:
    atomic_write_text(path, text)
    os.chmod(path, 0o600)


def _consent_text(cfg: CreateStudyConfig) -> str:
    if cfg.consent is None:
        return ""
    text = cfg.consent.read_text(encoding="utf-8").strip()
    if not text or len(text) > 20000:
        raise RadsynthError(f"--consent file {cfg.consent} must hold 1-20000 characters")
    return text


def _real_manifest(cfg: CreateStudyConfig) -> Path:
    """The ingest manifest holding the real images' classes (REAL is e.g. an ingest's val/)."""
    return cfg.real_manifest or cfg.real.parent / "manifest.csv"


def _choose_by_class(
    cfg: CreateStudyConfig, plans: list, folders: dict[str, Path]
) -> tuple[dict[str, list[Path]], dict[tuple[str, int], str], dict[str, str]]:
    """Class-matched images (:func:`radsynth.study.classes.choose_by_class`)."""
    pools = classes.class_pools(
        folders,
        classes.parse_meta_dirs(
            cfg.synthetic_meta, {g: f for g, f in folders.items() if g != "real"}
        ),
        _real_manifest(cfg),
        cfg.label_columns,
    )
    given = classes.parse_class_findings(cfg.class_finding)
    return classes.choose_by_class(plans, pools, given, cfg.seed)


def create_study(cfg: CreateStudyConfig) -> StageResult:
    """Create the study database, invitation links and admin token (see module docstring)."""
    _check(cfg)
    sets = parse_synthetic(cfg.synthetic)
    groups = ["real", *sets]
    folders = {"real": cfg.real, **sets}
    consent = _consent_text(cfg)
    plans = plan_items(
        groups,
        cfg.items,
        cfg.design,
        cfg.attention_checks,
        cfg.repeats,
        cfg.seed,
        n_practice=cfg.practice,
    )
    need = images_needed(plans)
    if cfg.finding_per_class:
        chosen, labels, findings = _choose_by_class(cfg, plans, folders)
    else:
        rng = np.random.default_rng([cfg.seed, 0])
        chosen = {g: _choose(folders[g], need.get(g, 0), g, rng) for g in groups}
        labels, findings = {}, {}
    size_px = cfg.size_px or read_gray(chosen["real"][0]).shape[0]
    url = cfg.db or default_db_url(cfg.out)
    password = tables.url_password(url)
    # config.json and manifest.json record the URL without its password.
    recorded = replace(cfg, db=tables.redact_url(cfg.db) if cfg.db else None)
    prepare_output_dir(cfg.out, STAGE, recorded)
    if password:
        _write_private(cfg.out / tables.PASSWORD_FILE, password + "\n")
    engine = tables.make_engine(url)
    create_schema(engine)

    # Encode every image; opaque ids are random so they reveal neither group nor order.
    ids: dict[tuple[str, int], str] = {}
    rows: list[tables.Image] = []
    for g in groups:
        for j, path in enumerate(chosen[g]):
            ids[g, j] = secrets.token_hex(8)
            rel = path.relative_to(folders[g]).as_posix()
            png = blind_encode(path, size_px)
            rows.append(
                tables.Image(
                    id=ids[g, j],
                    group=g,
                    source=rel,
                    png=png,
                    source_sha256=sha256_file(path),
                    label=labels.get((g, j)),
                )
            )
    noise_rng = np.random.default_rng([cfg.seed, 3])
    for j in range(need.get("attention", 0)):
        ids["attention", j] = secrets.token_hex(8)
        png = attention_image(size_px, noise_rng)
        rows.append(
            tables.Image(
                id=ids["attention", j],
                group="attention",
                source=f"noise-{j}",
                source_sha256="",
                png=png,
            )
        )
    # Repeat items show the same pictures under new ids, so nothing links them to the originals.
    item_ids: list[list[str]] = []
    originals = {row.id: row for row in rows}
    for plan in plans:
        if plan.kind != "repeat":
            item_ids.append([ids[slot] for slot in plan.slots])
            continue
        fresh = []
        for slot in plan.slots:
            src = originals[ids[slot]]
            fresh.append(secrets.token_hex(8))
            rows.append(
                tables.Image(
                    id=fresh[-1],
                    group=src.group,
                    source=src.source,
                    source_sha256=src.source_sha256,
                    png=src.png,
                    label=src.label,
                    original_id=src.id,
                )
            )
        item_ids.append(fresh)
    secrets.SystemRandom().shuffle(rows)
    class_counts = _class_counts(rows)  # before the session commits (and expires) the rows

    admin_token = secrets.token_urlsafe(32)
    meta = {
        "design": cfg.design,
        "questions": ",".join(_questions(cfg)),
        "finding": cfg.finding,
        "size_px": str(size_px),
        "seed": str(cfg.seed),
        "groups": json.dumps(groups),
        "admin_token_sha256": tables.token_hash(admin_token),
        "base_url": cfg.base_url,
        "allow_back": str(int(cfg.allow_back)),
        "practice": str(cfg.practice),
        "consent": consent,
        "questionnaire": str(int(cfg.questionnaire)),
    }
    if cfg.finding_per_class:  # a study-wide study keeps exactly the settings it had before
        meta[classes.META_PER_CLASS] = "1"
        meta[classes.META_CLASS_FINDINGS] = classes.encode_findings(findings)
    with Session(engine) as session, session.begin():
        session.add_all(tables.Meta(key=k, value=v) for k, v in meta.items())
        session.add_all(rows)
        session.flush()
        for i, plan in enumerate(plans, start=1):
            repeat_of = plan.repeat_of + 1 if plan.repeat_of is not None else None
            session.add(tables.Item(id=i, kind=plan.kind, repeat_of=repeat_of))
        session.flush()
        for i, image_ids in enumerate(item_ids, start=1):
            for pos, image_id in enumerate(image_ids, start=1):
                session.add(tables.ItemImage(item_id=i, position=pos, image_id=image_id))
        session.flush()
        links = add_raters(session, cfg.raters, admin_token, via="create")
    engine.dispose()

    base = cfg.base_url.rstrip("/")
    rows = [{"rater": name, "kind": "human", "url": f"{base}/r/{token}"} for name, token in links]
    _write_private(cfg.out / "links.csv", csv_text(("rater", "kind", "url"), rows))
    _write_private(cfg.out / "admin.txt", f"token {admin_token}\nurl {base}/admin/{admin_token}\n")
    inputs = [p for g in groups for p in chosen[g]]
    if cfg.finding_per_class:  # the classes' sources: the manifest and each image's sidecar
        meta_dirs = classes.parse_meta_dirs(cfg.synthetic_meta, sets)
        inputs += [_real_manifest(cfg)]
        inputs += [meta_dirs[g] / f"{p.stem}.json" for g in sets for p in chosen[g]]
    write_manifest(
        cfg.out,
        STAGE,
        recorded,
        inputs=inputs,
        seeds=cfg.seed,
        extra={
            "groups": groups,
            "items": len(plans),
            "images": len(rows),
            "size_px": size_px,
            "database": tables.redact_url(url),
            **({"classes": class_counts} if cfg.finding_per_class else {}),
        },
    )
    n_main = sum(p.kind == "main" for p in plans)
    summary = (
        f"{cfg.design} study with {n_main} main + {len(plans) - n_main} extra items "
        f"(practice, attention checks, repeats), "
        f"{len(groups)} groups, {cfg.raters} raters in {cfg.out}"
    )
    return StageResult(cfg.out, summary)
