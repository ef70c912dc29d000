"""A reader-study database exactly as schema version 1 (commit f3526e7) made it, for upgrade tests.

The tables are a frozen copy of that version's models, written with SQLAlchemy Core so that they
do not change with the current models.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
)

from radsynth.study.images import encode_png_constant

md = MetaData()
Table("schema_version", md, Column("version", Integer, primary_key=True))
Table("meta", md, Column("key", String(64), primary_key=True), Column("value", Text))
Table(
    "image",
    md,
    Column("id", String(32), primary_key=True),
    Column("group", String(128)),
    Column("source", Text),
    Column("source_sha256", String(64)),
    Column("png", LargeBinary),
)
Table(
    "item",
    md,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16)),
    Column("repeat_of", ForeignKey("item.id"), nullable=True),
)
Table(
    "item_image",
    md,
    Column("item_id", ForeignKey("item.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("image_id", ForeignKey("image.id")),
)
Table(
    "rater",
    md,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), unique=True),
    Column("kind", String(16)),
    Column("token_sha256", String(64), unique=True),
    Column("closed", Boolean),
    Column("created_at", DateTime(timezone=True)),
)
Table(
    "assignment",
    md,
    Column("rater_id", ForeignKey("rater.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("item_id", ForeignKey("item.id")),
    Column("version", Integer),
    Column("opened_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("rater_id", "item_id"),
)
Table(
    "response",
    md,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rater_id", ForeignKey("rater.id")),
    Column("seq", Integer),
    Column("item_id", ForeignKey("item.id")),
    Column("version", Integer),
    Column("picked", String(32), nullable=True),
    Column("answer", String(16), nullable=True),
    Column("opened_at", DateTime(timezone=True)),
    Column("answered_at", DateTime(timezone=True)),
    UniqueConstraint("rater_id", "seq", "version"),
)
Table("rating", md, Column("response_id", ForeignKey("response.id"), primary_key=True),
      Column("image_id", ForeignKey("image.id"), primary_key=True), Column("rating", Integer),
      Column("finding", String(8), nullable=True), Column("cue", Text, nullable=True))  # fmt: skip


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_v1_study(url: str, rater_token: str, admin_token: str) -> None:
    """Two quartet items, one rater who answered item 1 (seq 1) and not item 2."""
    engine = create_engine(url)
    md.create_all(engine)
    rng = np.random.default_rng(0)
    groups = ["real", "ckA", "ckB", "ckC"]
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with engine.begin() as c:
        c.execute(md.tables["schema_version"].insert(), [{"version": 1}])
        meta = {"design": "quartet", "questions": "", "finding": "the stated finding",
                "size_px": "16", "seed": "0", "groups": '["real", "ckA", "ckB", "ckC"]',
                "admin_token_sha256": sha(admin_token)}  # fmt: skip
        c.execute(md.tables["meta"].insert(), [{"key": k, "value": v} for k, v in meta.items()])
        images = [{"id": f"{g}{i}".ljust(16, "0"), "group": g, "source": f"{g}/{i}.png",
                   "source_sha256": "0" * 64,
                   "png": encode_png_constant(rng.integers(0, 255, (16, 16), dtype=np.uint8))}
                  for i in range(2) for g in groups]  # fmt: skip
        c.execute(md.tables["image"].insert(), images)
        c.execute(
            md.tables["item"].insert(),
            [
                {"id": 1, "kind": "main", "repeat_of": None},
                {"id": 2, "kind": "main", "repeat_of": None},
            ],
        )
        c.execute(md.tables["item_image"].insert(), [
            {"item_id": i + 1, "position": p + 1, "image_id": images[4 * i + p]["id"]}
            for i in range(2) for p in range(4)])  # fmt: skip
        rater = c.execute(
            md.tables["rater"]
            .insert()
            .values(
                name="rater-01",
                kind="human",
                token_sha256=sha(rater_token),
                closed=False,
                created_at=now,
            )
        ).inserted_primary_key[0]
        c.execute(
            md.tables["assignment"].insert(),
            [
                {"rater_id": rater, "seq": 1, "item_id": 2, "version": 1, "opened_at": None},
                {"rater_id": rater, "seq": 2, "item_id": 1, "version": 0, "opened_at": None},
            ],
        )
        resp = c.execute(
            md.tables["response"]
            .insert()
            .values(
                rater_id=rater,
                seq=1,
                item_id=2,
                version=1,
                picked=images[4]["id"],
                answer=None,
                opened_at=now,
                answered_at=now + timedelta(seconds=7),
            )
        ).inserted_primary_key[0]
        c.execute(md.tables["rating"].insert(), [
            {"response_id": resp, "image_id": images[4 + p]["id"], "rating": p + 1,
             "finding": None, "cue": None} for p in range(4)])  # fmt: skip
    engine.dispose()
