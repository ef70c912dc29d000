"""Arms of the utility benchmark and their evaluation on the held-out test split.

Arms: ``real`` (the real training split), ``synthetic`` (synthetic images only) and
``mix-<r>x`` (real plus r x as many synthetic images, r in the ratio curve; ``mix-1x`` is the
real + synthetic arm). With several named synthetic sets (:func:`all_arms`) ``real`` is trained
once and each set NAME adds ``synthetic:NAME`` and ``mix-<r>x:NAME``. A mix takes the first
round(r * n_real) synthetic images in a seeded order, so a larger ratio's set contains a
smaller one's. Each arm trains ``seeds`` classifiers with equal optimizer steps and
class-balanced batches; its score per test image is the mean of its seeds' scores (an
ensemble) and the per-seed AUROCs are its spread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from radsynth.errors import RadsynthError
from radsynth.utility.auroc import AucCI, auc_ci, bootstrap_ci
from radsynth.utility.classifier import ClassifierSettings, predict, train_classifier
from radsynth.utility.data import LabelledImages

log = logging.getLogger(__name__)


@dataclass
class ArmResult:
    """One arm's classifiers evaluated on one test set."""

    arm: str
    n_real: int  # real training images
    n_synthetic: int  # synthetic training images
    seed_aucs: list[float]  # per-seed AUROC on the test set
    ensemble: AucCI  # AUROC of the mean score, DeLong 95% CI
    boot_low: float  # patient-level bootstrap 95% CI
    boot_high: float
    scores: np.ndarray  # (N_test,) ensemble score
    images_per_s: float  # mean classifier training throughput
    external: dict = field(default_factory=dict)  # the same on the external set, if any
    set: str = ""  # the synthetic set the arm trains on ("" for real and the single-set form)


#: The mixing ratios tried when none are named: each where the synthetic set is large enough.
DEFAULT_RATIOS = (0.5, 1.0, 2.0, 4.0)


def arm_sets(
    real: LabelledImages, synthetic: LabelledImages | None, ratios: list[float], seed: int
) -> dict[str, tuple[LabelledImages, int, int]]:
    """arm name -> (training images, n_real, n_synthetic).

    ``ratios`` empty: :data:`DEFAULT_RATIOS`, each where the synthetic set is large enough
    (the others are left out, logged). A ratio named explicitly that needs more synthetic
    images than exist is refused.

    Raises:
        RadsynthError: a named ratio the synthetic set cannot meet (one line).
    """
    arms = {"real": (real, len(real.labels), 0)}
    if synthetic is None:
        return arms
    arms["synthetic"] = (synthetic, 0, len(synthetic.labels))
    order = torch.randperm(len(synthetic.labels), generator=torch.Generator().manual_seed(seed))
    named = bool(ratios)
    for r in ratios or DEFAULT_RATIOS:
        k = round(r * len(real.labels))
        if k > len(synthetic.labels) and named:
            raise RadsynthError(
                f"--ratios {r:g} needs {k} synthetic images for {len(real.labels)} real ones, "
                f"but {len(synthetic.labels)} are left: sample more, or name smaller ratios"
            )
        if k > len(synthetic.labels):
            log.warning(
                "ratio %gx needs %d synthetic images, %d exist: left out",
                r,
                k,
                len(synthetic.labels),
            )
            continue
        pick = order[:k]
        both = LabelledImages(
            torch.cat([real.images, synthetic.images[pick]]),
            torch.cat([real.labels, synthetic.labels[pick]]),
            real.patients + [synthetic.patients[i] for i in pick],
            real.names + [synthetic.names[i] for i in pick],
        )
        arms[f"mix-{r:g}x"] = (both, len(real.labels), k)
    return arms


def all_arms(
    real: LabelledImages, sets: dict[str, LabelledImages], ratios: list[float], seed: int
) -> dict[tuple[str, str], tuple[LabelledImages, int, int]]:
    """(arm name, set name) -> (training images, n_real, n_synthetic), ``real`` first.

    ``sets`` maps set names to images; the single-set form is the one set named "", whose arms
    keep their plain names (``synthetic``, ``mix-1x``). A named set's arms are suffixed with
    ``:NAME``. Every set draws its mixes with the same ``seed``.

    Raises:
        RadsynthError: a named ratio some set cannot meet (one line, naming the set).
    """
    arms = {("real", ""): (real, len(real.labels), 0)}
    for name, images in sets.items():
        try:
            mine = arm_sets(real, images, ratios, seed)
        except RadsynthError as err:
            raise RadsynthError(f"synthetic set {name}: {err}" if name else str(err)) from None
        for arm, train_set in mine.items():
            if arm != "real":
                arms[(f"{arm}:{name}" if name else arm, name)] = train_set
    return arms


def run_arm(
    name: str,
    train_set: tuple[LabelledImages, int, int],
    tests: dict[str, LabelledImages],
    settings: ClassifierSettings,
    seeds: list[int],
    n_boot: int,
) -> tuple[ArmResult, list]:
    """Train ``len(seeds)`` classifiers on one arm and score every test set.

    Returns:
        The arm's result on ``tests["test"]`` (with ``external`` filled from
        ``tests["external"]`` if present), and the seed-0 classifier (for fidelity).
    """
    images, n_real, n_syn = train_set
    scores = {k: [] for k in tests}
    rates, nets = [], []
    for s in seeds:
        net, rate = train_classifier(images.images, images.labels, settings, s)
        rates.append(rate)
        nets.append(net)
        for k, t in tests.items():
            scores[k].append(predict(net, t.images).numpy())
        log.info("utility %s seed %d: %.1f images/s", name, s, rate)
    results = {}
    for k, t in tests.items():
        y = t.labels.numpy()
        per_seed = [auc_ci(y, sc).auc for sc in scores[k]]
        mean = np.mean(scores[k], axis=0)
        low, high = bootstrap_ci(y, mean, t.patients, n_boot=n_boot, seed=0)
        results[k] = (per_seed, auc_ci(y, mean), low, high, mean)
    per_seed, ens, low, high, mean = results["test"]
    out = ArmResult(name, n_real, n_syn, per_seed, ens, low, high, mean, float(np.mean(rates)))
    if "external" in results:
        e_seed, e_ens, e_low, e_high, e_mean = results["external"]
        out.external = {
            "seed_aucs": e_seed,
            "auc": e_ens.auc,
            "low": e_ens.low,
            "high": e_ens.high,
            "boot_low": e_low,
            "boot_high": e_high,
            "scores": e_mean,
        }
    return out, nets
