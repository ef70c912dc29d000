"""``radsynth release RUN OUT``: the kept synthetic images as a dataset others can download.

What goes out: every image whose final decision (the review page's, else the screen's) is keep,
from the chosen checkpoints, mirrored to the canonical side as the orient stage decided, named
by an opaque id; ``metadata.csv`` maps each id to its checkpoint, seed, sampler, screening,
orientation and audit results; a dataset card; ``SHA256SUMS`` (see :mod:`.writer` for the layout).

What is refused (one line naming every problem, and nothing written): a training or held-out
image among the released ones, as generated or mirrored (pixel hashes, :mod:`radsynth.data.leaks`);
an image the audit flagged that reviewers have not adjudicated "not a copy"; an image that was
not audited, or changed after the audit (its sha256 differs from the audit's record); metadata
inside an image; a source file name, path or patient id anywhere in the release
(:mod:`.checks`); a screen or audit that has not run; an unknown training-data licence.

Each image is read and hashed once, and written as soon as it is checked (streaming); memory
holds one image and one metadata row per image.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from radsynth.config import arg
from radsynth.data.imageio import pil_to_array
from radsynth.data.leaks import PixelOverlap, pixel_digests, refuse_overlap
from radsynth.errors import RadsynthError
from radsynth.fates.records import ImageFate
from radsynth.release import checks, collect, inputs
from radsynth.release.assemble import Plan, finish_release, plan_release
from radsynth.release.formats import encode_png, sample_json
from radsynth.release.writer import ReleaseWriter, check_out
from radsynth.stage import StageResult


@dataclass(frozen=True)
class ReleaseConfig:
    """Release the kept synthetic images with provenance, checksums, a card and leak checks."""

    run: Path | None = arg(None, help="run folder made by 'radsynth run'", positional=True)
    out: Path | None = arg(
        None, help="new release folder (refused unless absent or empty)", positional=True
    )
    images: Path | None = arg(
        None, help="samples as generated, one sub-folder per checkpoint (default RUN/samples)"
    )
    orient: Path | None = arg(
        None, help="orient output with orientation.csv (default RUN/oriented)"
    )
    screen: Path | None = arg(None, help="screen output folder (default RUN/screen)")
    review: Path | None = arg(
        None, help="review page folder with the decision CSVs (default RUN/review when present)"
    )
    audit: Path | None = arg(None, help="audit output folder (default RUN/audit)")
    ingest: Path | None = arg(None, help="ingest output folder (default RUN/data)")
    fid: Path | None = arg(None, help="fid.csv of the FID sweep (default RUN/fid_sweep/fid.csv)")
    stats: Path | None = arg(None, help="stats.json of the reader study (default RUN/stats)")
    checkpoints: tuple[str, ...] = arg(
        (), help="checkpoint folders to release, e.g. step-0068000 (default: every screened one)"
    )
    keep: Literal["screened", "all"] = arg(
        "screened",
        help="screened: only images kept after screening and review; all: every "
        "screened image, excluded ones marked (the card says so)",
    )
    licence: str = arg("CC-BY-4.0", help="SPDX licence id of the released dataset")
    source_licence: str | None = arg(
        None, help="licence of the training data, when ingest did not record it (e.g. CC-BY-4.0)"
    )
    attribution: str | None = arg(
        None, help="attribution of the training data, when ingest did not record it"
    )
    name: str | None = arg(None, help="dataset name on the card (default: from the run folder)")
    version: str = arg("1.0.0", help="release version, stated on the card")
    shard_size: int = arg(0, help="images per WebDataset tar shard; 0 writes no shards")
    format: Literal["png", "dicom"] = arg(
        "png", help="png; dicom also writes each image as DICOM Secondary Capture in dicom/"
    )
    min_token_chars: int = arg(
        6, help="shortest source name or patient id matched in the release text (whole tokens)"
    )
    dry_run: bool = arg(False, help="print Table S1 and what would be refused; write nothing")


def resolve(cfg: ReleaseConfig) -> tuple[Path, inputs.ReleaseInputs]:
    """The output folder and the input parts (``release OUT --images ...`` gives one
    positional, which is then the output)."""
    run, out = cfg.run, cfg.out
    named = [cfg.images, cfg.screen, cfg.audit, cfg.ingest]
    if out is None and run is not None and all(p is not None for p in named):
        run, out = None, run
    if out is None:
        raise RadsynthError("give the output folder: radsynth release RUN OUT")
    if cfg.shard_size < 0 or cfg.min_token_chars < 1:
        raise RadsynthError("--shard-size must be 0 or more and --min-token-chars at least 1")
    parts = inputs.resolve_inputs(
        run,
        images=cfg.images,
        orient=cfg.orient,
        screen=cfg.screen,
        review=cfg.review,
        audit=cfg.audit,
        ingest=cfg.ingest,
        fid=cfg.fid,
        stats=cfg.stats,
    )
    return out, parts


@dataclass
class Stream:
    """What one pass over the released images found and wrote."""

    rows: list[dict[str, Any]]  # metadata.csv rows
    provenance: list[str]  # provenance.jsonl lines
    overlaps: list[PixelOverlap]  # released images equal to a real image
    size_px: tuple[int, int] = (0, 0)
    bits: int = 8


def _check_image(plan: Plan, image: str, data: bytes, refusals: checks.Refusals) -> bool:
    """The per-file checks that need only the bytes: audited, unchanged, no metadata.
    Returns False when the file is no PNG at all."""
    if plan.audit_hashes is not None:
        audited = plan.audit_hashes.get(image)
        if audited is None:
            refusals.add("image(s) not audited (run the audit on the current kept set)", image)
        elif audited != hashlib.sha256(data).hexdigest():
            refusals.add(
                "image(s) changed after the audit, or audited in another orientation "
                "(audit the samples as generated)",
                image,
            )
    try:
        chunks = checks.png_metadata_chunks(data)
    except RadsynthError as exc:
        refusals.add("unreadable image(s)", f"{image}: {exc}")
        return False
    if chunks:
        refusals.add("image(s) with metadata inside", f"{image}: {' '.join(chunks)}")
    return True


def _row(
    plan: Plan,
    c: ImageFate,
    image_id: str,
    digest: str,
    meta: dict[str, Any],
    img: Image.Image,
    bits: int,
    flipped: bool,
) -> dict[str, Any]:
    audit = plan.audit_rows.get(c.image)
    verdict = plan.decisions.verdicts.get(c.image)
    return {
        "file_name": f"images/{image_id}.png",
        "id": image_id,
        "checkpoint": c.group,
        "checkpoint_step": meta.get("checkpoint_step", ""),
        "checkpoint_sha256": meta.get("checkpoint_id", ""),
        "seed": meta.get("seed", ""),
        "sampler": meta.get("sampler", ""),
        "steps": meta.get("steps", ""),
        "guidance": meta.get("guidance", ""),
        "class": meta.get("class", ""),
        "screen_score": f"{c.score:.6f}",
        "screen_flagged": int(plan.decisions.flagged[c.image]),
        "screen_decision": c.final,
        "decided_by": plan.names.get(c.decided_by, "auto"),
        "orientation_flipped": int(flipped),
        "audit_similarity": f"{audit.similarity:.6f}" if audit else "",
        "audit_percentile": f"{audit.percentile:.2f}" if audit else "",  # 0-100
        "audit_flagged": int(audit.flagged) if audit else "",
        "audit_verdict": verdict.final if verdict else "",
        "width_px": img.width,
        "height_px": img.height,
        "bits": bits,
        "sha256": digest,
    }


def _one(
    plan: Plan,
    c: ImageFate,
    refusals: checks.Refusals,
    stream: Stream,
    writer: ReleaseWriter | None,
) -> None:
    """Check one image and, when nothing is refused yet, write it."""
    try:
        data = (plan.inputs.images / c.image).read_bytes()
        meta = inputs.sidecar(plan.inputs.images, c.image)
    except (OSError, RadsynthError) as exc:
        refusals.add("image(s) or sidecar(s) missing or unreadable", f"{c.image}: {exc}")
        return
    if not _check_image(plan, c.image, data, refusals):
        return
    flipped = plan.flips.get(c.image) if plan.flips is not None else False
    if flipped is None:
        refusals.add("image(s) missing from orientation.csv", c.image)
        return
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            img = opened.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flipped else opened.copy()
    except (OSError, ValueError, SyntaxError) as exc:
        refusals.add("unreadable image(s)", f"{c.image}: {exc}".splitlines()[0])
        return
    pixels, bits = pil_to_array(img)
    for mirrored, d in enumerate(pixel_digests(pixels, mirror=True)):
        if d in plan.real_digests:
            stream.overlaps.append(
                PixelOverlap(Path(c.image), plan.real_digests[d], bool(mirrored))
            )
            break
    audit = plan.audit_rows.get(c.image)
    verdict = plan.decisions.verdicts.get(c.image)
    if audit is not None and audit.flagged and (verdict is None or verdict.final != "not"):
        refusals.add(
            "audit-flagged image(s) not adjudicated 'not a copy' on the review page", c.image
        )
    png = encode_png(img)
    digest = hashlib.sha256(png).hexdigest()
    image_id = digest[:16]
    row = _row(plan, c, image_id, digest, meta, img, bits, bool(flipped))
    line = json.dumps({"id": image_id, **public_sidecar(meta)}, sort_keys=True)
    for token in plan.tokens.find(json.dumps(row) + "\n" + line):
        refusals.add("source name(s) or patient id(s) in the release", f"{token} ({c.image})")
    stream.rows.append(row)
    stream.provenance.append(line)
    stream.size_px, stream.bits = (img.height, img.width), bits
    if writer is not None and not refusals and not stream.overlaps:
        writer.write(row["file_name"], png, digest)
        writer.shard(image_id, {"png": png, "json": sample_json(row)})
        if plan.dicom is not None:
            plan.dicom.add(writer, refusals, plan.tokens, row, img, c)


def public_sidecar(meta: dict[str, Any]) -> dict[str, Any]:
    """A sampling sidecar without its seed-named file name (the id replaces it) and without
    local absolute paths (a user's folders say nothing about the image)."""
    return {k: v for k, v in meta.items() if k != "image" and not _local_path(v)}


def _local_path(value: Any) -> bool:
    return isinstance(value, str) and (value.startswith(("/", "~")) or value[1:3] == ":\\")


def stream_images(plan: Plan, refusals: checks.Refusals, writer: ReleaseWriter | None) -> Stream:
    """One pass over the released images: check each, and write it while nothing is refused."""
    stream = Stream([], [], [])
    for c in plan.released:
        _one(plan, c, refusals, stream, writer)
    try:
        refuse_overlap("the release", stream.overlaps)
    except RadsynthError as exc:
        refusals.add(f"real image(s) in the release: {exc}", "")
    return stream


def release(cfg: ReleaseConfig, echo: Callable[[str], None] = print) -> StageResult:
    """Build the release (or, with ``dry_run``, report what it would hold and refuse).

    Raises:
        RadsynthError: any refusal (see the module docstring), in one line; nothing is written.
    """
    out, parts = resolve(cfg)
    check_out(out)
    refusals = checks.Refusals()
    plan = plan_release(cfg, parts, refusals)
    if cfg.dry_run:
        echo(collect.format_table(plan.table))
        stream_images(plan, refusals, None)
        for line in refusals.lines() or ["nothing would be refused"]:
            echo(f"would refuse: {line}" if refusals else line)
        return StageResult(
            out,
            f"dry run: {len(plan.released)} images would be "
            f"released{', refused' if refusals else ''}; nothing written",
        )
    if refusals:
        raise RadsynthError(refusals.message())
    writer = ReleaseWriter(out, cfg.shard_size)
    try:
        stream = stream_images(plan, refusals, writer)
        if not refusals:
            finish_release(replace(cfg, out=out), plan, stream, writer, refusals)
        if refusals:
            raise RadsynthError(refusals.message())
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    counts = ", ".join(f"{r['group']}: {r['kept']}" for r in plan.table[:-1])
    return StageResult(out, f"released {len(stream.rows)} images ({counts}) into {out}")
