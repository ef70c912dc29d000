"""``radsynth audit``: the memorization audit.

For every synthetic image, its nearest training film (``feature``: the near-copy detector
``copy`` by default, :mod:`radsynth.audit.copy`; or cosine search over ``pixels``,
``inception`` or ``vit`` embeddings); the same for every held-out real (val) image, whose
scores calibrate what "close" means for a genuinely new film (:mod:`radsynth.audit.calibrate`:
near-copies hiding in the held-out set are left out, too few held-out images is an error). A
synthetic image scoring at or above the ``flag_percentile`` percentile of the held-out scores
is flagged. Held-out sets that share pixels (mirrored too) or patient ids with the training set
are refused (:mod:`radsynth.data.leaks`). The ``top_k`` closest pairs go to ``pairs.csv``, a
PNG sheet each (a pair that matched mirrored shows the training film mirrored) and
``pairs.html``, for two reviewers to adjudicate (``radsynth review``); given that review
folder, a second audit counts their verdicts (:mod:`radsynth.audit.findings`).

Outputs: pairs.csv, neighbours.csv (every synthetic image), calibration.json, findings.json
(copies among samples, training images and patients copied, per class, near-duplicates among
the samples), synthetic_duplicates.csv, sheets/pair-NNNN.png, pairs.html, config.json,
manifest.json.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from radsynth.audit import findings as fd
from radsynth.audit.calibrate import calibrate, needed
from radsynth.audit.copy import CopyParams
from radsynth.audit.embed import make_embedder
from radsynth.audit.matchers import CopyMatcher, EmbeddingMatcher, Match
from radsynth.audit.outputs import write_duplicates, write_pairs
from radsynth.audit.sheets import empirical_percentile
from radsynth.config import arg
from radsynth.data import leaks
from radsynth.data.imageio import list_images
from radsynth.errors import RadsynthError
from radsynth.hardware.device import resolve_device
from radsynth.hardware.flags import device_arg
from radsynth.progress import log_checkpoint
from radsynth.screening.orient import group_of
from radsynth.stage import StageResult, atomic_write_text, prepare_output_dir, write_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditConfig:
    """Memorization audit: nearest training films of synthetic images, calibrated."""

    train: Path = arg(help="training images (PNG folder) the model saw")
    val: Path = arg(help="held-out real images (PNG folder) for calibration")
    synthetic: Path = arg(help="synthetic images (PNG folder, sub-folders allowed)")
    out: Path = arg(help="output folder")
    feature: Literal["copy", "vit", "inception", "pixels"] = arg(
        "copy",
        help="copy (near-copy detector: invariant retrieval, then registration + NCC), vit (as "
        "in the study; needs vit_weights), inception (offline TF-Inception pool3) or pixels "
        "(mean-centred thumbnails)",
    )
    vit_weights: str = arg(
        "google/vit-base-patch16-224-in21k",
        help="ViT hub id (downloaded when online) or local save_pretrained folder",
    )
    pixels_px: int = arg(32, help="thumbnail side for feature=pixels (px)")
    copy_px: int = arg(64, help="side images are registered at for feature=copy (px)")
    copy_candidates: int = arg(4, help="training films verified per image for feature=copy")
    top_k: int = arg(100, help="number of most similar pairs to list, draw and review")
    flag_percentile: float = arg(
        99.5,
        help="flag a synthetic image whose score reaches this percentile (0-100, "
        "exclusive) of the held-out real images' scores; needs 100/(100-p) held-out images",
    )
    groups: Path | None = arg(
        None,
        help="ingest manifest.csv (columns image, group; paths relative to its folder): "
        "patient ids for the leak check and patient-level results",
    )
    class_folders: bool = arg(
        False, help="the first sub-folder of train/ and synthetic/ is the class: report per class"
    )
    review: Path | None = arg(
        None, help="review folder (radsynth review) whose agreed verdicts overrule the flags"
    )
    synthetic_duplicates: bool = arg(
        True, help="also look for near-duplicates among the synthetic images (mode collapse)"
    )
    block_size: int = arg(
        4096, help="rows per block of the exact blockwise search; memory O(block_size^2)"
    )
    batch: int = arg(32, help="images per embedding batch")
    chunk: int = arg(1024, help="synthetic images held in memory at once for feature=copy")
    device: str = device_arg()


def _check(cfg: AuditConfig) -> None:
    if cfg.top_k < 1:
        raise RadsynthError(f"top_k must be at least 1, got {cfg.top_k}")
    if not 0.0 < cfg.flag_percentile < 100.0:
        raise RadsynthError(f"flag_percentile must be in (0, 100), got {cfg.flag_percentile}")
    if min(cfg.block_size, cfg.batch, cfg.chunk, cfg.copy_candidates) < 1:
        raise RadsynthError("block_size, batch, chunk and copy_candidates must be positive")
    if cfg.pixels_px < 2 or cfg.copy_px < 16:
        raise RadsynthError("pixels_px must be at least 2 and copy_px at least 16")


def _images(folder: Path, what: str) -> list[Path]:
    paths = list_images(folder)
    if not paths:
        raise RadsynthError(f"no PNG images found in the {what} folder {folder}")
    return paths


def _group_ids(cfg: AuditConfig, train: list[Path]) -> list[str] | None:
    """Patient id per training image from the ingest manifest; refuses shared patients."""
    if cfg.groups is None:
        return None
    groups = leaks.read_groups(cfg.groups)
    root = cfg.groups.parent
    try:
        train_split = cfg.train.relative_to(root).as_posix()
        val_split = cfg.val.relative_to(root).as_posix()
    except ValueError:
        raise RadsynthError(f"train and val must lie inside {root} to use its manifest") from None
    shared = leaks.shared_patients(groups, train_split, val_split)
    leaks.refuse_overlap("the held-out (val) set", [], shared)
    ids = [groups.get(p.relative_to(root).as_posix(), "") for p in train]
    return [i or f"image:{n}" for n, i in enumerate(ids)]  # no id: the image is its own patient


def _matcher(cfg: AuditConfig):
    if cfg.feature == "copy":
        params = CopyParams(
            work_px=cfg.copy_px, coarse_px=cfg.copy_px // 2, candidates=cfg.copy_candidates
        )
        return CopyMatcher(params, cfg.chunk, cfg.block_size)
    embed = make_embedder(
        cfg.feature,
        vit_weights=cfg.vit_weights,
        pixels_px=cfg.pixels_px,
        device=resolve_device(cfg.device),
    )
    return EmbeddingMatcher(embed, cfg.batch, cfg.block_size)


def _classes(paths: list[Path], root: Path, on: bool) -> list[str] | None:
    if not on:
        return None
    parts = [p.relative_to(root).parts for p in paths]
    return [pt[0] if len(pt) > 1 else "" for pt in parts]


def audit(cfg: AuditConfig) -> StageResult:
    """Run the audit; see the module docstring for what is written."""
    _check(cfg)
    train, val = _images(cfg.train, "train"), _images(cfg.val, "val")
    synth = _images(cfg.synthetic, "synthetic")
    if len(val) < needed(cfg.flag_percentile):
        raise RadsynthError(
            f"{len(val)} held-out images are too few for the {cfg.flag_percentile} percentile: "
            f"at least {needed(cfg.flag_percentile)} are needed; add held-out images or lower "
            "flag_percentile"
        )
    # Leaks first: the same pixels (or their mirror image) or the same patient on both sides.
    overlap = leaks.pixel_overlaps(val, leaks.digest_folder(cfg.train), mirror=True)
    leaks.refuse_overlap("the held-out (val) set", overlap)
    train_groups = _group_ids(cfg, train)
    verdicts = fd.read_verdicts(cfg.review)
    matcher = _matcher(cfg)
    prepare_output_dir(cfg.out, "audit", cfg)

    matcher.fit(train)
    val_match = matcher.match(val)
    cal = calibrate(val_match.score, cfg.flag_percentile)
    syn = matcher.match(synth)
    flagged = syn.score >= cal.threshold
    percentile = empirical_percentile(syn.score, val_match.score[cal.kept])
    names = [p.relative_to(cfg.synthetic).as_posix() for p in synth]
    train_names = [p.relative_to(cfg.train).as_posix() for p in train]
    top = write_pairs(
        cfg.out,
        cfg.top_k,
        synth,
        names,
        train,
        train_names,
        syn,
        percentile,
        flagged,
        _note(cfg, len(val), cal.threshold),
    )

    _log_groups(names, syn.score, flagged)
    is_copy = fd.copies(flagged, names, verdicts)
    result = {"all": fd.literature_numbers(is_copy, syn.index, len(train), train_groups)}
    syn_cls, train_cls = (
        _classes(synth, cfg.synthetic, cfg.class_folders),
        _classes(train, cfg.train, cfg.class_folders),
    )
    for c in sorted(set(syn_cls or [])):
        sel = np.array([s == c for s in syn_cls])
        n_train_c = sum(t == c for t in train_cls)
        result[f"class:{c}"] = fd.literature_numbers(is_copy[sel], syn.index[sel], n_train_c)
    if cfg.synthetic_duplicates:
        within = matcher.within(synth)
        groups = fd.duplicate_groups(within.score, within.index, cal.threshold)
        write_duplicates(cfg.out / "synthetic_duplicates.csv", groups, names, within)
        result["mode_collapse"] = fd.mode_collapse(len(synth), groups)
    result["n_reviewer_verdicts"] = len(verdicts)
    atomic_write_text(cfg.out / "findings.json", json.dumps(result, indent=2) + "\n")
    calibration = _calibration(cfg, val, val_match, cal, flagged, len(train), len(synth))
    atomic_write_text(cfg.out / "calibration.json", json.dumps(calibration, indent=2) + "\n")
    write_manifest(
        cfg.out,
        "audit",
        cfg,
        inputs=[cfg.train, cfg.val, cfg.synthetic],
        extra={"n_flagged": int(flagged.sum()), "n_top": len(top)},
    )
    share = result["all"]["synthetic_copies"]
    return StageResult(
        cfg.out,
        f"{int(flagged.sum())} of {len(synth)} synthetic images flagged as copies (score >= "
        f"{cal.threshold:.4f}, the {cfg.flag_percentile} percentile of {int(cal.kept.sum())} "
        f"held-out images); copies after review: {share['count']}",
    )


def _log_groups(names: list[str], score: np.ndarray, flagged: np.ndarray) -> None:
    """One summary line per checkpoint (the synthetic images' first sub-folder)."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(group_of(Path(name)), []).append(i)
    for name, idx in sorted(groups.items()):
        message = f"{int(flagged[idx].sum())} of {len(idx)} images flagged; highest score "
        log_checkpoint(log, "audit", name, message + f"{float(score[idx].max()):.4f}")


def _note(cfg: AuditConfig, n_val: int, threshold: float) -> str:
    what = "registered NCC" if cfg.feature == "copy" else "nearest-neighbour cosine similarity"
    return (
        f"Feature {cfg.feature}; flagged = {what} at or above the {cfg.flag_percentile} "
        f"percentile of {n_val} held-out real images' (threshold {threshold:.6f})."
    )


def _calibration(cfg, val: list[Path], vm: Match, cal, flagged, n_train: int, n_synth: int):
    qs = (0, 1, 5, 25, 50, 75, 95, 99, 99.5, 100)
    kept = vm.score[cal.kept]
    dropped = [
        {"val": val[i].relative_to(cfg.val).as_posix(), "score": float(vm.score[i])}
        for i in np.flatnonzero(~cal.kept)
    ]
    return {
        "feature": cfg.feature,
        "n_train": n_train,
        "n_val": len(val),
        "n_val_used": int(cal.kept.sum()),
        "n_synthetic": n_synth,
        "flag_percentile": cfg.flag_percentile,
        # The smallest score whose share of kept held-out scores strictly below it reaches
        # flag_percentile; the expected false-flag rate on new films is 1 - pct / 100.
        "threshold_similarity": cal.threshold,
        "expected_false_flag_rate": 1.0 - cfg.flag_percentile / 100.0,
        "held_out_flag_rate": float(np.mean(kept >= cal.threshold)),
        "near_copy_fence": cal.fence,
        "val_dropped_as_near_copies": dropped,
        "val_nn_similarity_quantiles": {str(q): float(np.percentile(kept, q)) for q in qs},
        "val_scores": [round(float(s), 6) for s in vm.score],  # all, dropped ones included
        "n_flagged": int(flagged.sum()),
        "search": "retrieval + registered NCC" if cfg.feature == "copy" else "exact cosine top-1",
        "block_size": cfg.block_size,
    }
