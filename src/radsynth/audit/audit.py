"""``radsynth audit``: the memorization audit.

For every synthetic image, its cosine nearest neighbour in the training set (blockwise exact
search, :mod:`radsynth.audit.search`); the same for every held-out real (validation) image,
whose nearest-neighbour similarities calibrate what "close" means for a genuinely new image. A
synthetic image closer to a training image than ``flag_percentile`` % of the real held-out
images (its percentile is stated) is flagged as a memorization candidate. The ``top_k`` most
similar pairs go to ``pairs.csv``, a PNG sheet each and ``pairs.html``, for two reviewers to
adjudicate on the review page (``radsynth review``).

Outputs: pairs.csv (rank, synthetic, train, similarity, percentile, flagged), neighbours.csv
(every synthetic image), calibration.json, sheets/pair-NNNN.png, pairs.html, config.json,
manifest.json.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from radsynth.audit.embed import embed_files, make_embedder
from radsynth.audit.search import topk_cosine
from radsynth.audit.sheets import empirical_percentile, pair_sheet, pairs_html
from radsynth.config import arg
from radsynth.data.imageio import list_images
from radsynth.errors import RadsynthError
from radsynth.progress import log_checkpoint
from radsynth.screening.orient import group_of
from radsynth.stage import StageResult, atomic_write_text, prepare_output_dir, write_manifest

log = logging.getLogger(__name__)
PAIR_COLUMNS = ("rank", "synthetic", "train", "similarity", "percentile", "flagged")


@dataclass(frozen=True)
class AuditConfig:
    """Memorization audit: nearest training neighbours of synthetic images, calibrated."""

    train: Path = arg(help="training images (PNG folder) the model saw")
    val: Path = arg(help="held-out real images (PNG folder) for calibration")
    synthetic: Path = arg(help="synthetic images (PNG folder, sub-folders allowed)")
    out: Path = arg(help="output folder")
    feature: Literal["vit", "inception", "pixels"] = arg(
        "pixels",
        help="embedding: vit (as in the study; needs vit_weights), inception (offline TF-Inception "
        "pool3) or pixels (mean-centred thumbnails)",
    )
    vit_weights: str = arg(
        "google/vit-base-patch16-224-in21k",
        help="ViT hub id (downloaded when online) or local save_pretrained folder",
    )
    pixels_px: int = arg(32, help="thumbnail side for feature=pixels (px)")
    top_k: int = arg(100, help="number of most similar pairs to list, draw and review")
    flag_percentile: float = arg(
        99.5, help="flag a synthetic image whose NN similarity reaches this percentile (0-100) "
        "of the held-out real images' NN similarities"
    )  # fmt: skip
    block_size: int = arg(
        4096, help="rows per block of the exact blockwise search; memory O(block_size^2)"
    )
    batch: int = arg(32, help="images per embedding batch")
    device: str = arg("cpu", help="torch device for the embedding network (cpu, cuda, cuda:1)")


def _check(cfg: AuditConfig) -> None:
    if cfg.top_k < 1:
        raise RadsynthError(f"top_k must be at least 1, got {cfg.top_k}")
    if not 0.0 < cfg.flag_percentile <= 100.0:
        raise RadsynthError(f"flag_percentile must be in (0, 100], got {cfg.flag_percentile}")
    if cfg.block_size < 1 or cfg.batch < 1 or cfg.pixels_px < 2:
        raise RadsynthError("block_size and batch must be positive and pixels_px at least 2")


def _images(folder: Path, what: str) -> list[Path]:
    paths = list_images(folder)
    if not paths:
        raise RadsynthError(f"no PNG images found in the {what} folder {folder}")
    return paths


def audit(cfg: AuditConfig) -> StageResult:
    """Run the audit; see the module docstring for what is written."""
    _check(cfg)
    train, val = _images(cfg.train, "train"), _images(cfg.val, "val")
    synth = _images(cfg.synthetic, "synthetic")
    embed = make_embedder(
        cfg.feature, vit_weights=cfg.vit_weights, pixels_px=cfg.pixels_px, device=cfg.device
    )
    prepare_output_dir(cfg.out, "audit", cfg)

    # Embed, then exact cosine NN of val and synthetic images among the training images.
    f_train = embed_files(embed, train, cfg.batch, "audit: train")
    f_val = embed_files(embed, val, cfg.batch, "audit: val")
    val_sim, _ = topk_cosine(f_val, f_train, 1, cfg.block_size)
    f_syn = embed_files(embed, synth, cfg.batch, "audit: synthetic")
    syn_sim, syn_idx = topk_cosine(f_syn, f_train, 1, cfg.block_size)
    val_sim, syn_sim, syn_idx = val_sim[:, 0], syn_sim[:, 0], syn_idx[:, 0]

    # Calibrate: a synthetic NN similarity's percentile among the real held-out NN similarities.
    percentile = empirical_percentile(syn_sim, val_sim)
    flagged = percentile >= cfg.flag_percentile
    rows = []
    for i in range(len(synth)):
        rows.append({
            "synthetic": synth[i].relative_to(cfg.synthetic).as_posix(),
            "train": train[syn_idx[i]].relative_to(cfg.train).as_posix(),
            "similarity": f"{syn_sim[i]:.6f}",
            "percentile": f"{percentile[i]:.2f}",
            "flagged": int(flagged[i]),
        })  # fmt: skip
    _write_csv(cfg.out / "neighbours.csv", PAIR_COLUMNS[1:], rows)
    _log_groups(rows, syn_sim, flagged)
    order = sorted(range(len(rows)), key=lambda i: (-float(syn_sim[i]), rows[i]["synthetic"]))
    top = [{"rank": r + 1, **rows[i]} for r, i in enumerate(order[: cfg.top_k])]
    _write_csv(cfg.out / "pairs.csv", PAIR_COLUMNS, top)

    # Pair sheets and the HTML page.
    sheet_names = []
    for row, i in zip(top, order, strict=False):
        name = f"sheets/pair-{row['rank']:04d}.png"
        caption = f"#{row['rank']} cos {row['similarity']} pct {row['percentile']}"
        pair_sheet(synth[i], train[syn_idx[i]], caption, cfg.out / name)
        sheet_names.append(name)
    calibration = _calibration(cfg, val_sim, flagged, len(train), len(synth), f_train.shape[1])
    note = (
        f"Feature {cfg.feature}; flagged = nearest-neighbour cosine similarity at or above the "
        f"{cfg.flag_percentile} percentile of {len(val)} held-out real images' "
        f"(threshold {calibration['threshold_similarity']:.6f})."
    )
    pairs_html(top, sheet_names, cfg.out / "pairs.html", note)
    atomic_write_text(cfg.out / "calibration.json", json.dumps(calibration, indent=2) + "\n")
    write_manifest(cfg.out, "audit", cfg, inputs=[cfg.train, cfg.val, cfg.synthetic],
                   extra={"n_flagged": int(flagged.sum())})  # fmt: skip
    return StageResult(
        cfg.out,
        f"{int(flagged.sum())} of {len(synth)} synthetic images flagged "
        f"(NN similarity >= {cfg.flag_percentile} percentile of {len(val)} real held-out images)",
    )


def _log_groups(rows: list[dict], similarity: np.ndarray, flagged: np.ndarray) -> None:
    """One summary line per checkpoint (the synthetic images' first sub-folder)."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(group_of(Path(row["synthetic"])), []).append(i)
    for name, idx in sorted(groups.items()):
        top = float(similarity[idx].max())
        message = f"{int(flagged[idx].sum())} of {len(idx)} images flagged; highest NN "
        log_checkpoint(log, "audit", name, message + f"similarity {top:.4f}")


def _calibration(cfg, val_sim, flagged, n_train, n_synth, dim) -> dict:
    qs = (0, 1, 5, 25, 50, 75, 95, 99, 99.5, 100)
    n_max = max(n_train, n_synth)
    block = min(cfg.block_size, n_max)
    return {
        "feature": cfg.feature,
        "n_train": n_train,
        "n_val": len(val_sim),
        "n_synthetic": n_synth,
        "flag_percentile": cfg.flag_percentile,
        # The smallest similarity whose percentile (share of val NN similarities strictly
        # below it) reaches flag_percentile.
        "threshold_similarity": float(_threshold(val_sim, cfg.flag_percentile)),
        "val_nn_similarity_quantiles": {str(q): float(np.percentile(val_sim, q)) for q in qs},
        "n_flagged": int(flagged.sum()),
        "search": "exact blockwise cosine top-1",
        "block_size": cfg.block_size,
        "embedding_dim": dim,
        # Search memory: the features, their unit-normalised copies and one similarity block.
        "peak_bytes_estimate": int(8 * (n_train + n_synth) * dim + 4 * block * block),
    }


def _threshold(val_sim: np.ndarray, pct: float) -> float:
    ranked = np.sort(val_sim.astype(np.float32))
    need = int(np.ceil(round(pct / 100.0 * len(ranked), 9)))  # val values that must lie below
    if need <= 0:
        return float("-inf")
    return float(np.nextafter(ranked[need - 1], np.float32(np.inf)))


def _write_csv(path: Path, columns, rows) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
