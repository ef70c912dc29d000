"""The utility benchmark's tables and figures: utility.csv, utility.json, roc.png,
auroc_by_arm.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.records._csv import write_csv
from radsynth.stage import atomic_write_text

#: ``set``: the synthetic set an arm trains on ("" for ``real`` and the single-set form; files
#: written before several sets lack the column, and readers take it as "").
CSV_COLUMNS = (
    "arm",
    "set",
    "n_real",
    "n_synthetic",
    "auroc",
    "delong_low",
    "delong_high",
    "boot_low",
    "boot_high",
    "seed_aurocs",
    "seed_min",
    "seed_max",
    "diff_vs_real",
    "diff_low",
    "diff_high",
    "p_vs_real",
    "external_auroc",
    "external_low",
    "external_high",
    "images_per_s",
)


def _row(r, paired) -> dict[str, Any]:
    test = paired.get(r.arm)
    ext = r.external
    return {
        "arm": r.arm,
        "set": r.set,
        "n_real": r.n_real,
        "n_synthetic": r.n_synthetic,
        "auroc": round(r.ensemble.auc, 6),
        "delong_low": round(r.ensemble.low, 6),
        "delong_high": round(r.ensemble.high, 6),
        "boot_low": round(r.boot_low, 6),
        "boot_high": round(r.boot_high, 6),
        "seed_aurocs": ";".join(f"{a:.4f}" for a in r.seed_aucs),
        "seed_min": round(min(r.seed_aucs), 6),
        "seed_max": round(max(r.seed_aucs), 6),
        "diff_vs_real": round(test.diff, 6) if test else "",
        "diff_low": round(test.low, 6) if test else "",
        "diff_high": round(test.high, 6) if test else "",
        "p_vs_real": f"{test.p:.4g}" if test else "",
        "external_auroc": round(ext["auc"], 6) if ext else "",
        "external_low": round(ext["low"], 6) if ext else "",
        "external_high": round(ext["high"], 6) if ext else "",
        "images_per_s": round(r.images_per_s, 2),
    }


def write_outputs(cfg, classes, results, paired, fid, tests, seconds, n_dropped) -> str:
    """Write every output file; returns the one-line summary."""
    out = Path(cfg.out)
    rows = [_row(r, paired) for r in results]
    write_csv(out / "utility.csv", CSV_COLUMNS, rows)
    record = {
        "classes": list(classes),
        "positive_class": classes[1],
        "n_test": len(tests["test"].labels),
        "n_test_positive": int(tests["test"].labels.sum()),
        "n_external": len(tests["external"].labels) if "external" in tests else None,
        "synthetic_left_out_as_copies": n_dropped,
        "sets": sorted({r.set for r in results if r.set}),
        "arms": rows,
        "conditional_fidelity": fid,
        "seconds": seconds,
        "classifier": {
            "arch": cfg.arch,
            "steps": cfg.steps,
            "batch": cfg.batch,
            "lr": cfg.lr,
            "seeds": cfg.seeds,
        },
    }
    atomic_write_text(out / "utility.json", json.dumps(record, indent=2) + "\n")
    plot_roc(out / "roc.png", tests["test"].labels.numpy(), results)
    plot_auroc_by_arm(out / "auroc_by_arm.png", results)
    best = max(results, key=lambda r: r.ensemble.auc)
    return (
        f"{len(results)} arms x {cfg.seeds} seeds on {len(tests['test'].labels)} "
        f"test images; real-only AUROC {results[0].ensemble.auc:.3f}, best {best.arm} "
        f"{best.ensemble.auc:.3f}; {seconds:.0f} s; in {out}"
    )


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last = np.r_[np.diff(s) != 0, True]  # tied scores move together
    tp, fp = np.cumsum(y)[last], np.cumsum(1 - y)[last]
    return np.r_[0, fp / max(fp[-1], 1)], np.r_[0, tp / max(tp[-1], 1)]


def plot_roc(path: Path, labels: np.ndarray, results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for r in results:
        fpr, tpr = roc_points(labels, r.scores)
        ax.plot(fpr, tpr, label=f"{r.arm} ({r.ensemble.auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC on test/")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_auroc_by_arm(path: Path, results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    x = np.arange(len(results))
    auc = np.array([r.ensemble.auc for r in results])
    low = np.array([r.ensemble.low for r in results])
    high = np.array([r.ensemble.high for r in results])
    err = np.stack([auc - low, high - auc])
    ax.errorbar(x, auc, yerr=err, fmt="o", capsize=4, label="ensemble, DeLong 95% CI")
    for i, r in enumerate(results):
        ax.scatter(
            [i + 0.15] * len(r.seed_aucs),
            r.seed_aucs,
            s=10,
            color="grey",
            label="single seeds" if i == 0 else None,
        )
    ax.set_xticks(x, [r.arm for r in results], rotation=20)
    ax.set(ylabel="AUROC on test/", title="AUROC by arm")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
