"""Before and after the pass over the images: what a release will hold and check
(:func:`plan_release`), and the files written once every image passed (:func:`finish_release`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from radsynth.config import config_to_dict
from radsynth.data.leaks import digest_folder
from radsynth.errors import RadsynthError
from radsynth.fates.records import TABLE_S1_COLUMNS, ImageFate
from radsynth.layout import RunLayout, set_generator
from radsynth.records._csv import csv_text
from radsynth.records.audit import NeighbourRow
from radsynth.records.curves import FidRow, read_fid
from radsynth.records.stats import read_stats
from radsynth.release import card, checks, collect, inputs, manifest
from radsynth.release.formats import DicomSeries, check_synthetic_tags, dicom_bytes, dicom_text
from radsynth.stage import package_versions, sha256_file

if TYPE_CHECKING:
    from PIL import Image

    from radsynth.release.build import ReleaseConfig, Stream
    from radsynth.release.writer import ReleaseWriter


@dataclass
class Plan:
    """Everything the pass over the images needs, read once up front."""

    inputs: inputs.ReleaseInputs
    ingest: inputs.IngestRecord
    source_licence: str
    attribution: str
    decisions: collect.Decisions  # the screen's and the reviewers' decisions
    released: list[ImageFate]  # the images that go out
    table: list[dict[str, object]]  # Table S1
    names: dict[str, str]  # reviewer id -> pseudonym
    flips: dict[str, bool] | None  # image -> mirrored by orient; None: not oriented
    audit_rows: dict[str, NeighbourRow]
    audit_hashes: dict[str, str] | None  # image -> sha256 the audit read; None: not audited
    real_digests: dict[str, Path]  # pixel digest -> ingested training/held-out image
    tokens: checks.SensitiveTokens
    dicom: DicomAdder | None


class DicomAdder:
    """Writes the DICOM copy of each released image, refusing a dataset with foreign tags."""

    def __init__(self, release_key: str, groups: list[str]) -> None:
        self.series = DicomSeries(release_key, groups)

    def add(
        self,
        writer: ReleaseWriter,
        refusals: checks.Refusals,
        tokens: checks.SensitiveTokens,
        row: dict[str, Any],
        img: Image.Image,
        c: ImageFate,
    ) -> None:
        ds = self.series.dataset(c.group, row["id"], np.asarray(img))
        problems = check_synthetic_tags(ds) + tokens.find(dicom_text(ds))
        if problems:
            refusals.add(
                "DICOM file(s) with tags other than the synthetic ones",
                f"{c.image}: {', '.join(problems)}",
            )
            return
        writer.write(f"dicom/{row['id']}.dcm", dicom_bytes(ds))


def _licence(cfg: ReleaseConfig, record: inputs.IngestRecord, refusals: checks.Refusals) -> str:
    given = cfg.source_licence or record.source_licence
    if not given:
        refusals.add(
            "the training data's licence is unknown: ingest recorded none; state it "
            "with --source-licence (e.g. CC-BY-4.0) or `ingest --source-licence`",
            "",
        )
        return "unknown"
    if record.source_licence and cfg.source_licence and cfg.source_licence != record.source_licence:
        refusals.add(
            f"--source-licence {cfg.source_licence} contradicts the licence ingest "
            f"recorded ({record.source_licence})",
            "",
        )
    return given


def _real_digests(ingest: Path) -> dict[str, Path]:
    """Pixel digests of every ingested image (train and held-out), at the trained size."""
    table: dict[str, Path] = {}
    for split in ("train", "val"):
        if (ingest / split).is_dir():
            table.update(digest_folder(ingest / split))
    if not table:
        raise RadsynthError(f"no ingested images in {ingest}/train or {ingest}/val")
    return table


def _tokens(cfg: ReleaseConfig, record: inputs.IngestRecord, reviewers: list[str]):
    paths = [s["source_path"] for s in record.sources]
    extra = [record.source_root, *checks.absolute_source_paths(record.source_root, paths)]
    pairs = [(s["source_path"], s["group"]) for s in record.sources]
    return checks.SensitiveTokens.build(pairs, [*extra, *reviewers], cfg.min_token_chars)


def plan_release(
    cfg: ReleaseConfig, parts: inputs.ReleaseInputs, refusals: checks.Refusals
) -> Plan:
    """Read the run's tables, apply the review decisions, and note the refusals found so far.

    Raises:
        RadsynthError: when the screen has not run at all (nothing to list), or a table is
            unreadable.
    """
    if not inputs.finished(parts.screen, "screen"):
        refusals.add(f"the screen has not run (no finished screen in {parts.screen})", "")
        if not (parts.screen / "screen.csv").is_file():
            raise RadsynthError(refusals.message())
    audited = inputs.finished(parts.audit, "audit")
    if not audited:
        refusals.add(f"the audit has not run (no finished audit in {parts.audit})", "")
    record = inputs.ingest_record(parts.ingest)
    source_licence = _licence(cfg, record, refusals)
    decisions = collect.decide(
        parts.screen,
        parts.review,
        cfg.keep,
        cfg.checkpoints,
        images=parts.images,
        record=parts.fates,
    )
    released = decisions.released
    if not released:
        refusals.add("nothing to release: the screen and the reviewers kept no image", "")
    names = collect.pseudonyms(decisions.reviewers)
    dicom = None
    if cfg.format == "dicom":
        key = "|".join([cfg.name or "", cfg.version, *(c.image for c in released)])
        dicom = DicomAdder(
            hashlib.sha256(key.encode()).hexdigest(), sorted({c.group for c in released})
        )
    return Plan(
        inputs=parts,
        ingest=record,
        source_licence=source_licence,
        attribution=cfg.attribution or record.attribution or "",
        decisions=decisions,
        released=released,
        table=decisions.table(),
        names=names,
        flips=inputs.orientation_flips(parts.orient) if parts.orient is not None else None,
        audit_rows=inputs.audit_rows(parts.audit) if audited else {},
        audit_hashes=inputs.audited_hashes(parts.audit) if audited else None,
        real_digests=_real_digests(parts.ingest),
        tokens=_tokens(cfg, record, [n for n in names if n != "auto"]),
        dicom=dicom,
    )


# ------------------------------------------------------------------------------ closing files


def public_config(cfg: ReleaseConfig, run: Path | None) -> dict[str, Any]:
    """The config with paths relative to the run folder (a folder name otherwise), so that no
    local path leaves with the release."""
    values = config_to_dict(cfg)
    for key, value in values.items():
        if isinstance(getattr(cfg, key), Path):
            path = Path(value)
            inside = run is not None and path.resolve().is_relative_to(run.resolve())
            values[key] = (
                path.resolve().relative_to(run.resolve()).as_posix() if inside else path.name
            )
    return values


def _optional_json(path: Path | None) -> dict[str, Any]:
    return inputs.read_json(path) if path is not None and path.is_file() else {}


def _checkpoints(plan: Plan) -> list[dict[str, Any]]:
    out = []
    for group in sorted({c.group for c in plan.released}):
        s = inputs.sampling_record(plan.inputs.images, group)
        out.append(
            {
                "checkpoint": group,
                "step": s.get("checkpoint_step"),
                "sha256": s.get("checkpoint_id", ""),
                "sampler": s.get("sampler"),
                "steps": s.get("steps"),
            }
        )
    return out


def _fid_rows(parts: inputs.ReleaseInputs, ckpts: list[dict[str, Any]]) -> list[tuple[str, FidRow]]:
    """The FID sweep's row of each released set (its checkpoint's step): from ``--fid`` when
    given, else from the sweep of the set's own generator in the run folder."""
    rows = []
    for c in ckpts:
        generator = set_generator(c["checkpoint"])
        path = parts.fid
        if parts.run is not None and generator is not None:
            path = RunLayout(parts.run).generator(generator).fid
        if path is not None:
            rows += [(c["checkpoint"], r) for r in read_fid(path) if str(r.step) == str(c["step"])]
    return rows


def _training_steps(plan: Plan, sampling: dict[str, Any]) -> int | None:
    """Total training steps: the run's train config, else the sampled checkpoint's own."""
    run = plan.inputs.run
    gen = RunLayout(run).generator(None) if run is not None else None
    train = _optional_json(gen.train / "config.json") if gen is not None else {}
    if "total_steps" not in train and sampling.get("checkpoint"):
        ckpt = _optional_json(Path(sampling["checkpoint"]) / "config.json")
        train = ckpt.get("train") or {}
    return train.get("total_steps")


def _facts(cfg: ReleaseConfig, plan: Plan, stream: Stream) -> card.CardFacts:
    parts = plan.inputs
    ckpts = _checkpoints(plan)
    fid = _fid_rows(parts, ckpts)
    audit = dict(_optional_json(parts.audit / "calibration.json"))
    audit["n_flagged_released"] = sum(r["audit_flagged"] == 1 for r in stream.rows)
    formats = (["shards"] if cfg.shard_size else []) + (["dicom"] if cfg.format == "dicom" else [])
    sampling = inputs.sampling_record(parts.images, ckpts[0]["checkpoint"])
    return card.CardFacts(
        name=cfg.name or f"{(parts.run or cfg.out).name} synthetic radiographs",
        version=cfg.version,
        licence=cfg.licence,
        source_licence=plan.source_licence,
        attribution=plan.attribution,
        n_images=len(stream.rows),
        size_px=stream.size_px,
        bits=stream.bits,
        table=plan.table,
        checkpoints=ckpts,
        model=sampling,
        training_steps=_training_steps(plan, sampling),
        n_train=plan.ingest.n_train,
        n_val=plan.ingest.n_val,
        trained_px=plan.ingest.size_px,
        phantoms=plan.ingest.phantoms,
        keep=cfg.keep,
        oriented=plan.flips is not None,
        screen=_optional_json(parts.screen / "threshold.json"),
        fid=fid,
        audit=audit,
        study=read_stats(parts.stats) if parts.stats and parts.stats.is_file() else None,
        formats=formats,
        n_screen_flagged=sum(r["screen_flagged"] == 1 for r in stream.rows),
    )


def _manifest(cfg: ReleaseConfig, plan: Plan, stream: Stream) -> dict[str, Any]:
    parts = plan.inputs
    sources = {
        "screen.csv": parts.screen / "screen.csv",
        "neighbours.csv": parts.audit / "neighbours.csv",
        "audit manifest.json": parts.audit / "manifest.json",
        "ingest manifest.json": parts.ingest / "manifest.json",
    }
    if parts.orient is not None:
        sources["orientation.csv"] = parts.orient / "orientation.csv"
    for name in ("screen_decisions.csv", "audit_adjudication.csv"):
        if parts.review is not None and (parts.review / name).is_file():
            sources[name] = parts.review / name
    return {
        "stage": "release",
        "complete": True,
        "version": cfg.version,
        "config": public_config(cfg, parts.run),
        "inputs": {k: sha256_file(p) for k, p in sources.items()},
        "n_images": len(stream.rows),
        "table_s1": plan.table,
        "versions": package_versions(),
    }


def finish_release(
    cfg: ReleaseConfig, plan: Plan, stream: Stream, writer: ReleaseWriter, refusals: checks.Refusals
) -> None:
    """Write metadata.csv, provenance.jsonl, table_s1.csv, the card, config and manifest,
    refusing any that holds a source name (metadata rows were checked one by one)."""
    columns = manifest.metadata_columns(stream.rows)
    texts = {
        "README.md": card.render_card(_facts(cfg, plan, stream)),
        "table_s1.csv": csv_text(TABLE_S1_COLUMNS, plan.table, ignore_extra=True),
        "config.json": json.dumps(public_config(cfg, plan.inputs.run), indent=2) + "\n",
        "manifest.json": json.dumps(_manifest(cfg, plan, stream), indent=2) + "\n",
    }
    for name, text in texts.items():
        for token in plan.tokens.find(text):
            refusals.add("source name(s) or patient id(s) in the release", f"{token} ({name})")
    if refusals:
        return
    texts["metadata.csv"] = csv_text(columns, stream.rows, ignore_extra=True)
    texts["provenance.jsonl"] = "\n".join(stream.provenance) + "\n"
    for name, text in texts.items():
        writer.write(name, text.encode())
