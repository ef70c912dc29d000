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

A projection-independent part learned from the reference films themselves
(:mod:`radsynth.screening.consistency`: layout consistency, k-NN novelty on a coarse grid and
symmetry) adds three more conformal p-values when the reference is large enough. Those three
models are cross-fitted on two halves of the reference, so every reference film has a score
from a model that never saw it; the anatomy k-NN keeps every reference film as a neighbour
(leave-one-out). A film is flagged when its weighted minimum p-value (``PART_WEIGHTS``) is below
the ``frr`` quantile of the same statistic on the reference films, each against the others.

A second test, OR-ed with the first, needs no fitting and runs on a reference of any size
(``--midline``; :mod:`radsynth.screening.midline`): mirror symmetry (one side mirrored onto the
other) and the midline layout (halves swapped left-right). It gets ``midline_frr`` of the
false-rejection budget, half to each score (a film is flagged when a score's tail p-value
against the reference is below ``midline_frr / 2``); the first test is calibrated to
``frr - midline_frr``, so the two together reject at most about ``frr`` (union bound). With
``--midline-paired`` (default) a film is also flagged when its midline score is on the
halves-swapped side (above 0) and above every reference film's: a paired test that needs no
fitted tail (:func:`radsynth.screening.midline.paired_flags`).

The anatomy features see both sets first turned to face left with
:mod:`radsynth.screening.orient` (the reference folder, e.g. ``RUN/data/val``, is not oriented),
so the features see one canonical side.

Outputs: screen.csv (image, group, score, flagged, p_anatomy, p_layout, p_novelty,
p_symmetry, p_mirror, p_midline; score is the anatomy k-NN score), kept.csv and excluded.csv
(image, group, score), threshold.json, table_s1.csv (group, generated, excluded, final; the
study's Table S1, with a ``total`` row), config.json, manifest.json.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from radsynth.config import arg
from radsynth.data.imageio import list_images, read_gray
from radsynth.errors import RadsynthError
from radsynth.films.selfsup import represent
from radsynth.progress import bar, log_checkpoint
from radsynth.records._csv import write_csv
from radsynth.records.screen import P_COLUMNS, ScreenRow, row_cells, write_screen
from radsynth.screening.consistency import (
    fit_consistency,
    flag_slots,
    min_p_threshold,
    p_values,
    raw_scores,
    tail_p_values,
    tail_p_values_loo,
)
from radsynth.screening.facing import analyse, detect
from radsynth.screening.features import anatomy_features
from radsynth.screening.knn import knn_scores
from radsynth.screening.midline import midline_flags, midline_scores
from radsynth.screening.orient import group_of
from radsynth.stage import StageResult, atomic_write_text, prepare_output_dir, write_manifest

log = logging.getLogger(__name__)

#: Weights of the parts (anatomy, layout, novelty, symmetry) in the weighted minimum p-value.
#: Any weights keep the calibration; these set the power: the anatomy features see the local
#: C-spine defects only they can see, the other three share the gross re-arrangements, which
#: any of them flags with a wide margin. Chosen on the phantoms and two paediatric draws
#: (docs/screening.md).
PART_WEIGHTS = (0.5, 1 / 6, 1 / 6, 1 / 6)


@dataclass(frozen=True)
class ScreenConfig:
    """Flag anatomically implausible lateral images with a score calibrated on real images."""

    src: Path = arg(help="images to screen (PNG folder; sub-folders = groups)", positional=True)
    out: Path = arg(help="output folder", positional=True)
    reference: Path = arg(help="held-out real images (PNG folder), e.g. RUN/data/val")
    frr: float = arg(0.05, help="false-rejection rate the threshold is calibrated to (0-1)")
    frr_confidence: float | None = arg(
        None,
        help="calibrate so that the false-rejection rate is at most frr with this probability "
        "over the draw of the reference films (e.g. 0.9; training-conditional conformal, "
        "Vovk 2012); default: at most frr on average over draws",
    )
    k: int = arg(10, help="nearest reference neighbours averaged in the score")
    canonicalize: bool = arg(
        True, help="turn every image to face left (orient's detector) before measuring"
    )
    block_size: int = arg(1024, help="query rows per block of the k-NN search; memory O(block N)")
    projection_free: Literal["auto", "on", "off"] = arg(
        "auto",
        help="add the layout/novelty part learned from the reference films; auto: on when "
        "the reference has enough films to calibrate it (2 * ceil(3 / frr))",
    )
    seed: int = arg(
        0, help="seed of the reference's two cross-fitting halves (projection-free part)"
    )
    midline: bool = arg(
        True,
        help="add the left-right mirror-symmetry and midline-layout test (one side mirrored "
        "onto the other, halves swapped); it needs no fitting, so it runs on any reference",
    )
    midline_frr: float = arg(
        0.005,
        help="share of frr given to the midline test (half to each of its two scores); the "
        "other parts are calibrated to frr - midline_frr",
    )
    midline_paired: bool = arg(
        True,
        help="also flag a film whose midline score is on the halves-swapped side (above 0: "
        "more swapped than its own swapped copy) and above every reference film's; needs no "
        "fitted tail, so it holds on a small reference (docs/screening.md)",
    )


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
    for path, left in bar(
        zip(paths, facing_left, strict=True), total=len(paths), desc="screen: features"
    ):
        img = read_gray(path)
        feats.append(anatomy_features(img if left else img[:, ::-1]))
    return np.stack(feats)


def conformal_threshold(
    reference_scores: np.ndarray, frr: float, confidence: float | None = None
) -> float:
    """The ``ceil((1 - frr)(n + 1))``-th smallest reference score (split-conformal quantile);
    with ``confidence``, the ``(n + 1 - k)``-th, ``k = flag_slots(n, frr, confidence)`` (at most
    ``frr`` false rejections with that probability over the reference draw)."""
    n = len(reference_scores)
    if confidence is None:
        rank = math.ceil(round((1.0 - frr) * (n + 1), 9))
        need = math.ceil(1.0 / frr) - 1
    else:
        rank = n + 1 - flag_slots(n, frr, confidence)
        need = math.ceil(math.log(1.0 - confidence) / math.log(1.0 - frr))
    if rank > n:
        what = f"frr={frr}" + ("" if confidence is None else f" with confidence {confidence}")
        raise RadsynthError(f"{n} reference images cannot calibrate {what}: need at least {need}")
    return float(np.sort(reference_scores)[rank - 1])


def _check(cfg: ScreenConfig) -> tuple[list[Path], list[Path]]:
    if not 0.0 < cfg.frr < 1.0:
        raise RadsynthError(f"frr must be between 0 and 1, got {cfg.frr}")
    if cfg.frr_confidence is not None and not 0.0 < cfg.frr_confidence < 1.0:
        raise RadsynthError(f"frr_confidence must be between 0 and 1, got {cfg.frr_confidence}")
    if cfg.midline and not 0.0 < cfg.midline_frr < cfg.frr:
        raise RadsynthError(
            f"midline_frr must be above 0 and below frr={cfg.frr}, got {cfg.midline_frr}"
        )
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

    ref = load_features(ref_paths, cfg.canonicalize)
    feats = load_features(paths, cfg.canonicalize)
    scores, p, flagged, threshold, cut, ref_scores, used, paired = _score_parts(
        cfg, ref, feats, ref_paths, paths
    )
    parts = len(used)

    records = []
    for path, score, flag, pv in zip(paths, scores, flagged, p, strict=True):
        rel = path.relative_to(cfg.src)
        records.append(
            ScreenRow(
                rel.as_posix(), group_of(rel), float(score), bool(flag), *(float(v) for v in pv)
            )
        )
    write_screen(cfg.out / "screen.csv", records)
    rows = [row_cells(r) for r in records]
    cols = ["image", "group", "score"]
    _write_csv(cfg.out / "kept.csv", cols, [r for r in rows if not r["flagged"]])
    _write_csv(cfg.out / "excluded.csv", cols, [r for r in rows if r["flagged"]])
    table = table_s1(rows)
    for r in table[:-1]:
        log_checkpoint(
            log,
            "screen",
            r["group"],
            f"{r['excluded']} of {r['generated']} images excluded (threshold {threshold:.4g})",
        )
    _write_csv(cfg.out / "table_s1.csv", ["group", "generated", "excluded", "final"], table)
    info = {
        "threshold": threshold,
        "frr_target": cfg.frr,
        "frr_confidence": cfg.frr_confidence,
        "frr_reference_leave_one_out": float((ref_scores > threshold).mean()),
        "parts": parts,
        "weighted_min_p_cut": cut,
        "part_weights": list(PART_WEIGHTS),
        "parts_used": [P_COLUMNS[j] for j in used],
        "frr_first_test": _first_frr(cfg),
        "midline_frr": cfg.midline_frr if cfg.midline else None,
        **paired,
        "n_reference": len(ref_paths),
        "n_calibration": len(ref_scores),
        "k": cfg.k,
        "score": "mean Euclidean distance to the k nearest reference images, standardised "
        "anatomy features (radsynth.screening.features)",
        "calibration": "split-conformal quantile of leave-one-out reference scores",
        "n_screened": len(rows),
        "n_excluded": int(flagged.sum()),
    }
    atomic_write_text(cfg.out / "threshold.json", json.dumps(info, indent=2) + "\n")
    write_manifest(
        cfg.out,
        "screen",
        cfg,
        inputs=[cfg.src, cfg.reference],
        extra={"n_excluded": int(flagged.sum())},
    )
    return StageResult(
        cfg.out,
        f"{int(flagged.sum())} of {len(rows)} images excluded (threshold {threshold:.4g}, "
        f"calibrated to frr {cfg.frr} on {len(ref_paths)} real images)",
    )


def _first_frr(cfg: ScreenConfig) -> float:
    """The false-rejection budget of the first test (all but the midline test's share)."""
    return cfg.frr - cfg.midline_frr if cfg.midline else cfg.frr


def _score_parts(cfg: ScreenConfig, ref, feats, ref_paths, paths):
    """Every part that runs, calibrated on every reference film. First test: the anatomy k-NN
    leave-one-out and, when the reference is large enough, the layout, novelty and symmetry
    models cross-fitted (:mod:`radsynth.screening.consistency`); with the anatomy part alone a
    film is flagged when its score is above the conformal threshold, with all four when its
    weighted minimum p-value is below the ``frr`` quantile of the reference films' own
    (leave-one-out) weighted minimum. Second test, OR-ed: the mirror and midline scores
    (:func:`radsynth.screening.midline.midline_flags`). Returns (anatomy scores, (N, 6) rank
    p-values (1 for parts that did not run), flagged, anatomy threshold, weighted-min-p cut or
    None, reference anatomy scores, indices of the parts run, :func:`midline_info`)."""
    frr = _first_frr(cfg)
    mu, sd = ref.mean(0), ref.std(0) + 1e-6
    base = (ref - mu) / sd
    k = min(cfg.k, len(ref) - 1)
    ref_scores = knn_scores(base, base, k, cfg.block_size, leave_one_out=True)
    scores = knn_scores((feats - mu) / sd, base, k, cfg.block_size)
    threshold = conformal_threshold(ref_scores, frr, cfg.frr_confidence)
    p = np.ones((len(paths), len(P_COLUMNS)))
    p[:, 0] = p_values(ref_scores[:, None], scores[:, None])[:, 0]
    flagged, cut, used = scores > threshold, None, [0]
    paired = midline_info(False, None)
    if _use_projection_free(cfg, len(ref_paths)):
        model = fit_consistency(load_films(ref_paths), cfg.seed)
        cal_parts = np.hstack([ref_scores[:, None], model.calibration])
        new_parts = np.hstack([scores[:, None], raw_scores(model, load_films(paths))])
        weights = np.array(PART_WEIGHTS)
        cut = min_p_threshold(
            (tail_p_values_loo(cal_parts) / weights).min(1), frr, cfg.frr_confidence
        )
        flagged = (tail_p_values(cal_parts, new_parts) / weights).min(1) < cut
        p[:, :4] = p_values(cal_parts, new_parts)
        used = [0, 1, 2, 3]
    if cfg.midline:
        cal, new = load_midline(ref_paths), load_midline(paths)
        flagged = flagged | midline_flags(cal, new, cfg.midline_frr, cfg.midline_paired)
        paired = midline_info(cfg.midline_paired, cal[:, 1])
        p[:, 4:] = p_values(cal, new)
        used += [4, 5]
    return scores, p, flagged, threshold, cut, ref_scores, used, paired


def midline_info(paired: bool, reference_midline: np.ndarray | None) -> dict:
    """threshold.json's record of the paired midline test: whether it ran, the largest
    reference midline score and how many reference films lie on the halves-swapped side
    (above 0; logged as a warning, since the paired test then flags only beyond them)."""
    if not paired or reference_midline is None:
        return {"midline_paired": False}
    top, n_side = float(reference_midline.max()), int((reference_midline > 0).sum())
    if n_side:
        log.warning(
            "screen: %d of %d reference films have a midline score above 0 (the halves-swapped "
            "side); the paired test flags only films above the largest, %.3g",
            n_side,
            len(reference_midline),
            top,
        )
    return {
        "midline_paired": True,
        "midline_reference_max": top,
        "midline_reference_swapped_side": n_side,
    }


def load_midline(paths: list[Path]) -> np.ndarray:
    """(N, 2) mirror-symmetry and midline scores of image files, as stored."""
    rows = [midline_scores([read_gray(p)])[0] for p in bar(paths, desc="screen: midline")]
    return np.array(rows, dtype=np.float64).reshape(len(paths), 2)


def _use_projection_free(cfg: ScreenConfig, n_reference: int) -> bool:
    if cfg.projection_free == "auto":
        return n_reference >= 2 * math.ceil(3 / cfg.frr)
    return cfg.projection_free == "on"


def load_films(paths: list[Path]) -> list:
    """The coarse :class:`radsynth.films.selfsup.Film` of each image file, as stored."""
    return [represent(read_gray(p)) for p in bar(paths, desc="screen: layout")]


def table_s1(rows: list[dict]) -> list[dict]:
    """Per group (checkpoint): generated, excluded and final (kept) counts, plus a total row."""
    groups: dict[str, list[int]] = {}
    for r in rows:
        g = groups.setdefault(r["group"], [0, 0])
        g[0] += 1
        g[1] += int(r["flagged"])
    table = [
        {"group": name, "generated": n, "excluded": x, "final": n - x}
        for name, (n, x) in sorted(groups.items())
    ]
    n, x = sum(g[0] for g in groups.values()), sum(g[1] for g in groups.values())
    table.append({"group": "total", "generated": n, "excluded": x, "final": n - x})
    return table


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    write_csv(path, columns, rows, ignore_extra=True)
