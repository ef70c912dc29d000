"""Fit the shipped rotation and polarity networks (radsynth/films/weights/).

Fitted on the paediatric films' ``train`` folder (Kermany et al. 2018, CC BY 4.0) and on drawn
frontal films (tests/sample_films.py), with every film augmented by radsynth.films.augment; never
on the adult (Actualmed) films, which are for evaluation only. The temperatures and the OOD cut
are fitted on held-out paediatric films (10% of ``train``, augmented), never on a reported source.

    OMP_NUM_THREADS=1 PYTHONPATH=src python scripts/fit_film_checks.py \
        ../shared/data/cxr-pediatric-224/train OUT --epochs 6

Writes OUT/rotation.safetensors, OUT/polarity.safetensors and OUT/fit.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from radsynth.data.imageio import list_images, read_gray
from radsynth.data.resample import resample_square
from radsynth.films.augment import augment
from radsynth.films.checknet import (
    CheckNet,
    CheckNetShape,
    ShippedChecks,
    feature_distance,
    invariant_negative_logit,
    load_checks,
    negative_logit,
    pooled_features,
    prepare,
    rotation_logits,
    save_checks,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from sample_films import drawn_frontal  # noqa: E402

BASE_PX = 64  # films are held at this size; augmentation runs on it


def load(folder: Path, n_drawn: int, seed: int) -> list[np.ndarray]:
    films = [resample_square(read_gray(p), BASE_PX, "stretch") for p in list_images(folder)]
    rng = np.random.default_rng(seed + 1000)
    films += [resample_square(drawn_frontal(rng), BASE_PX, "stretch") for _ in range(n_drawn)]
    return films


def views(
    films: list[np.ndarray],
    rng: np.random.Generator,
    px: int,
    p: float = 0.3,
    processing: bool = False,
):
    """Augmented films (each augmentation with probability ``p``, vendor processing only when
    ``processing``), each inverted with P 1/2 and turned by a random k: (z, negative, k)."""
    imgs, neg, turns = [], [], []
    for f in films:
        x = augment(f, rng, p, processing)
        k = int(rng.integers(0, 4))
        inv = bool(rng.random() < 0.5)
        x = np.rot90(1.0 - x if inv else x, k)
        imgs.append(np.ascontiguousarray(x))
        neg.append(inv)
        turns.append(k)
    return prepare(imgs, px), torch.tensor(neg, dtype=torch.float32), torch.tensor(turns)


def fit_temperature(logits: torch.Tensor, nll) -> float:
    best = min(np.exp(np.linspace(-3, 3, 241)), key=lambda t: float(nll(logits / t)))
    return float(best)


def calibrate(
    checks: ShippedChecks,
    hold: list[np.ndarray],
    rng: np.random.Generator,
    p: float = 0.3,
    processing: bool = False,
) -> tuple[ShippedChecks, dict[str, float]]:
    """Temperatures and OOD cut of exactly the read-out ingest uses (``call_shipped``: the
    polarity logit averaged over the film's eight forms, the rotation logits from the
    mirror-averaged upright score, the feature distance of the film as given), fitted on the
    held-out fitting films, each shown twice, augmented, inverted with P 1/2 and turned."""
    with torch.no_grad():
        z, neg, k = views(hold * 2, rng, checks.rotation.shape.px, p, processing)
        zp = torch.where(neg.bool()[:, None, None, None], -z, z)
        rl = rotation_logits(checks.rotation.eval(), zp)
        pl = invariant_negative_logit(checks.polarity.eval(), z)
        t_rot = fit_temperature(rl, lambda x: F.cross_entropy(x, k))
        t_pol = fit_temperature(pl, lambda x: F.binary_cross_entropy_with_logits(x, neg))
        dist = np.sort(feature_distance(checks, zp))
    # Split-conformal cut: a held-out fitting film is gated with probability <= 1%.
    cut = float(dist[min(len(dist) - 1, int(np.ceil(0.99 * (len(dist) + 1))) - 1)])
    report = dict(
        held_out_rotation_accuracy=float((rl.argmax(1) == k).float().mean()),
        held_out_polarity_accuracy=float(((pl > 0) == neg.bool()).float().mean()),
        rotation_temperature=t_rot,
        polarity_temperature=t_pol,
        ood_cut=cut,
    )
    new = replace(checks, rotation_temperature=t_rot, polarity_temperature=t_pol, ood_cut=cut)
    return new, report


def held_out_split(films: list[np.ndarray], rng: np.random.Generator) -> tuple[list, list]:
    """(train, held out): a tenth held out, drawn from ``rng``."""
    order = rng.permutation(len(films))
    n_hold = len(films) // 10
    return [films[i] for i in order[n_hold:]], [films[i] for i in order[:n_hold]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--n-drawn", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument(
        "--calibration-augment",
        type=float,
        default=0.3,
        help="probability of each augmentation on the held-out films calibrated on",
    )
    ap.add_argument(
        "--processing",
        action="store_true",
        help="the vendor-processing augmentation too (the shipped weights were fitted without)",
    )
    ap.add_argument(
        "--recalibrate",
        type=Path,
        help="a weights folder: refit only its temperatures and OOD cut (same held-out films)",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    films = load(args.train, args.n_drawn, args.seed)
    train, hold = held_out_split(films, rng)
    if args.recalibrate:
        recalibrate(args, hold)
        return
    shape = CheckNetShape()
    rot, pol = CheckNet(shape), CheckNet(shape)
    params = list(rot.parameters()) + list(pol.parameters())
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-4)
    steps = args.epochs * (len(train) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
    start, step = time.time(), 0
    for epoch in range(args.epochs):
        perm = rng.permutation(len(train))
        rot.train()
        pol.train()
        for b in range(len(train) // args.batch):
            z, neg, k = views(
                [train[i] for i in perm[b * args.batch : (b + 1) * args.batch]],
                rng,
                shape.px,
                processing=args.processing,
            )
            # The rotation network sees the film made positive: polarity is the other network's.
            zp = torch.where(neg.bool()[:, None, None, None], -z, z)
            loss = F.cross_entropy(rotation_logits(rot, zp), k)
            loss = loss + F.binary_cross_entropy_with_logits(negative_logit(pol, z), neg)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        print(f"epoch {epoch} loss {loss.item():.4f} {time.time() - start:.0f}s", flush=True)
    rot.eval()
    pol.eval()
    with torch.no_grad():
        zt, negt, _ = views(train[:1500], rng, shape.px, processing=args.processing)
        zt = torch.where(negt.bool()[:, None, None, None], -zt, zt)
        ft = pooled_features(rot, zt).double().numpy()
        mean, std = ft.mean(0), ft.std(0) + 1e-3
    trained_on_films = len(films) - args.n_drawn
    trained_on = (
        "Kermany et al. 2018 paediatric chest X-rays (CC BY 4.0), train folder, "
        f"{trained_on_films} films, and {args.n_drawn} drawn frontal films; augmented"
    )
    checks, calibration = calibrate(
        ShippedChecks(rot, pol, 1.0, 1.0, mean, std, 0.0, trained_on),
        hold,
        rng,
        args.calibration_augment,
        args.processing,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    save_checks(args.out / "rotation.safetensors", args.out / "polarity.safetensors", checks)
    report = dict(
        epochs=args.epochs,
        seed=args.seed,
        n_train=len(train),
        n_held_out=len(hold),
        processing=args.processing,
        **calibration,
        seconds=round(time.time() - start, 1),
        torch=torch.__version__,
        trained_on=trained_on,
    )
    (args.out / "fit.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def recalibrate(args: argparse.Namespace, hold: list[np.ndarray]) -> None:
    """Refit the OOD cut of the networks in ``args.recalibrate`` on the held-out films of their
    fit, for the feature distance ingest uses now, and write them to ``args.out``.

    The temperatures are refitted too but only reported: on held-out films of the fitting
    source every film is right, so the fitted temperature falls to the grid's floor (the
    in-source over-confidence of issue 27), which no cross-source figure supports."""
    src = args.recalibrate
    checks = load_checks(src / "rotation.safetensors", src / "polarity.safetensors")
    start = time.time()
    rng = np.random.default_rng(args.seed + 2000)
    refit, calibration = calibrate(checks, hold, rng, args.calibration_augment, args.processing)
    checks = replace(checks, ood_cut=refit.ood_cut)
    args.out.mkdir(parents=True, exist_ok=True)
    save_checks(args.out / "rotation.safetensors", args.out / "polarity.safetensors", checks)
    report = json.loads((src / "fit.json").read_text()) if (src / "fit.json").is_file() else {}
    report["recalibrated"] = dict(
        seconds=round(time.time() - start, 1),
        seed=args.seed + 2000,
        calibration_augment=args.calibration_augment,
        ood_cut_before=report.get("ood_cut"),
        refit_not_applied={k: v for k, v in calibration.items() if k != "ood_cut"},
    )
    report["ood_cut"] = checks.ood_cut
    (args.out / "fit.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
