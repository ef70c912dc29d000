"""``radsynth screen``: an implausibility score per synthetic image, with a threshold calibrated
on held-out real images to a chosen false-rejection rate.

Score (higher = more implausible): the mean Euclidean distance to the ``k`` nearest reference
images in the space of :mod:`radsynth.screening.features` (anatomy-aware features measured
relative to the spine), each feature standardised by the reference set's mean and standard
deviation (k-NN novelty detection; e.g. Ramaswamy, Rastogi & Shim, SIGMOD 2000).

Calibration uses the real reference images only: each reference image is scored against the
other reference images (leave-one-out), and the threshold is the ``ceil((1 - frr)(n + 1))``-th
smallest of those n scores, the split-conformal quantile (Vovk et al., *Algorithmic Learning in
a Random World*, 2005; Lei et al., JASA 2018). A plausible image exchangeable with the reference
set is then flagged with probability at most about ``frr``.

Both sets are first turned to face left with :mod:`radsynth.screening.orient` (the reference
folder, e.g. ``RUN/data/val``, is not oriented), so the features see one canonical side.

Outputs: screen.csv (image, group, score, flagged), kept.csv and excluded.csv (image, group,
score), threshold.json, table_s1.csv (group, generated, excluded, final; the study's Table S1,
with a ``total`` row), config.json, manifest.json.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radsynth.config import arg
from radsynth.data.imageio import list_images, read_gray
from radsynth.errors import RadsynthError
from radsynth.progress import bar, log_checkpoint
from radsynth.screening.features import anatomy_features
from radsynth.screening.orient import analyse, detect, group_of
from radsynth.stage import StageResult, atomic_write_text, prepare_output_dir, write_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScreenConfig:
    """Flag anatomically implausible lateral images with a score calibrated on real images."""

    src: Path = arg(help="images to screen (PNG folder; sub-folders = groups)", positional=True)
    out: Path = arg(help="output folder", positional=True)
    reference: Path = arg(help="held-out real images (PNG folder), e.g. RUN/data/val")
    frr: float = arg(0.05, help="false-rejection rate the threshold is calibrated to (0-1)")
    k: int = arg(10, help="nearest reference neighbours averaged in the score")
    canonicalize: bool = arg(
        True, help="turn every image to face left (orient's detector) before measuring"
    )
    block_size: int = arg(1024, help="query rows per block of the k-NN search; memory O(block N)")


def load_features(paths: list[Path], canonicalize: bool) -> np.ndarray:
    """(N, D) anatomy features of image files, each turned to face left when asked.

    Two passes over the files, so that memory holds only coarse copies, never all images.
    """
    facing_left = np.ones(len(paths), dtype=bool)
    if canonicalize:
        parts = [analyse(read_gray(p), "lateral") for p in bar(paths, desc="screen: facing")]
        scores, _ = detect(np.array([p for p, _ in parts]), np.stack([g for _, g in parts]))
        facing_left = scores >= 0
    feats = []
    for path, left in bar(zip(paths, facing_left, strict=True), total=len(paths),
                          desc="screen: features"):  # fmt: skip
        img = read_gray(path)
        feats.append(anatomy_features(img if left else img[:, ::-1]))
    return np.stack(feats)


def knn_scores(
    queries: np.ndarray, base: np.ndarray, k: int, block_size: int = 1024, leave_one_out=False
) -> np.ndarray:
    """Mean Euclidean distance of each query row to its ``k`` nearest base rows.

    With ``leave_one_out`` the queries are the base itself and each row's own zero distance is
    left out. Memory is O(block_size x N).
    """
    base_sq = (base**2).sum(1)
    out = np.empty(len(queries))
    for q0 in range(0, len(queries), block_size):
        q = queries[q0 : q0 + block_size]
        d2 = (q**2).sum(1)[:, None] + base_sq[None, :] - 2.0 * q @ base.T
        if leave_one_out:
            d2[np.arange(len(q)), np.arange(q0, q0 + len(q))] = np.inf
        nearest = np.partition(d2, k - 1, axis=1)[:, :k]
        out[q0 : q0 + len(q)] = np.sqrt(np.maximum(nearest, 0.0)).mean(1)
    return out


def conformal_threshold(reference_scores: np.ndarray, frr: float) -> float:
    """The ``ceil((1 - frr)(n + 1))``-th smallest reference score (split-conformal quantile)."""
    n = len(reference_scores)
    rank = math.ceil(round((1.0 - frr) * (n + 1), 9))
    if rank > n:
        raise RadsynthError(
            f"{n} reference images cannot calibrate frr={frr}: need at least "
            f"{math.ceil(1.0 / frr) - 1}"
        )
    return float(np.sort(reference_scores)[rank - 1])


def _check(cfg: ScreenConfig) -> tuple[list[Path], list[Path]]:
    if not 0.0 < cfg.frr < 1.0:
        raise RadsynthError(f"frr must be between 0 and 1, got {cfg.frr}")
    if cfg.k < 1 or cfg.block_size < 1:
        raise RadsynthError("k and block_size must be at least 1")
    paths, ref = list_images(cfg.src), list_images(cfg.reference)
    if not paths:
        raise RadsynthError(f"no PNG images found in {cfg.src}")
    if len(ref) <= cfg.k:
        raise RadsynthError(
            f"the reference folder needs more than k={cfg.k} images, has {len(ref)}"
        )
    return paths, ref


def screen(cfg: ScreenConfig) -> StageResult:
    """Score, calibrate and split the images; see the module docstring for the outputs."""
    paths, ref_paths = _check(cfg)
    prepare_output_dir(cfg.out, "screen", cfg)

    # Features, standardised by the reference set.
    ref = load_features(ref_paths, cfg.canonicalize)
    feats = load_features(paths, cfg.canonicalize)
    mu, sd = ref.mean(0), ref.std(0) + 1e-6
    ref_z, z = (ref - mu) / sd, (feats - mu) / sd

    # Calibrate on the reference (leave-one-out), then score.
    ref_scores = knn_scores(ref_z, ref_z, cfg.k, cfg.block_size, leave_one_out=True)
    threshold = conformal_threshold(ref_scores, cfg.frr)
    scores = knn_scores(z, ref_z, cfg.k, cfg.block_size)
    flagged = scores > threshold

    rows = []
    for path, score, flag in zip(paths, scores, flagged, strict=True):
        rel = path.relative_to(cfg.src)
        rows.append({"image": rel.as_posix(), "group": group_of(rel),
                     "score": f"{score:.6f}", "flagged": int(flag)})  # fmt: skip
    _write_csv(cfg.out / "screen.csv", ["image", "group", "score", "flagged"], rows)
    cols = ["image", "group", "score"]
    _write_csv(cfg.out / "kept.csv", cols, [r for r in rows if not r["flagged"]])
    _write_csv(cfg.out / "excluded.csv", cols, [r for r in rows if r["flagged"]])
    table = table_s1(rows)
    for r in table[:-1]:
        log_checkpoint(log, "screen", r["group"], f"{r['excluded']} of {r['generated']} images "
                       f"excluded (threshold {threshold:.4g})")  # fmt: skip
    _write_csv(cfg.out / "table_s1.csv", ["group", "generated", "excluded", "final"], table)
    info = {
        "threshold": threshold,
        "frr_target": cfg.frr,
        "frr_reference_leave_one_out": float((ref_scores > threshold).mean()),
        "n_reference": len(ref_paths),
        "k": cfg.k,
        "score": "mean Euclidean distance to the k nearest reference images, standardised "
        "anatomy features (radsynth.screening.features)",
        "calibration": "split-conformal quantile of leave-one-out reference scores",
        "n_screened": len(rows),
        "n_excluded": int(flagged.sum()),
    }
    atomic_write_text(cfg.out / "threshold.json", json.dumps(info, indent=2) + "\n")
    write_manifest(cfg.out, "screen", cfg, inputs=[cfg.src, cfg.reference],
                   extra={"n_excluded": int(flagged.sum())})  # fmt: skip
    return StageResult(
        cfg.out,
        f"{int(flagged.sum())} of {len(rows)} images excluded (threshold {threshold:.4g}, "
        f"calibrated to frr {cfg.frr} on {len(ref_paths)} real images)",
    )


def table_s1(rows: list[dict]) -> list[dict]:
    """Per group (checkpoint): generated, excluded and final (kept) counts, plus a total row."""
    groups: dict[str, list[int]] = {}
    for r in rows:
        g = groups.setdefault(r["group"], [0, 0])
        g[0] += 1
        g[1] += int(r["flagged"])
    table = [{"group": name, "generated": n, "excluded": x, "final": n - x}
             for name, (n, x) in sorted(groups.items())]  # fmt: skip
    n, x = sum(g[0] for g in groups.values()), sum(g[1] for g in groups.values())
    table.append({"group": "total", "generated": n, "excluded": x, "final": n - x})
    return table


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
