"""The sweeps' figures: FID against training step (``fid_vs_step.png``) and FID against
denoiser calls per image (``fid_vs_steps.png``). Drawn on a bare matplotlib ``Figure`` (no
pyplot, so no global figure state) and written atomically. Rows are ``fid.csv`` records and
``sweep.csv``'s string rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radsynth.evaluation.table import Row
from radsynth.records.curves import FidRow
from radsynth.records.ema_sweep import EmaSweepRow
from radsynth.stage import atomic_path


def _figure(width_in: float, height_in: float, **options: Any):
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), **options)


def _save(fig: Any, path: Path, dpi: int) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


def _guidance(row: Row) -> float | None:
    return float(row["guidance"]) if row.get("guidance") else None


def fid_vs_step(path: Path, rows: list[FidRow], main: str, extra: list[str], title: str) -> None:
    """FID against training step, one panel per feature space (``main`` first, then ``extra``).

    Args:
        rows: ``fid.csv`` rows (their ``fid`` and ``extra["fid_<space>"]``).
        main: the main feature space's name, for its axis label.
    """
    from matplotlib.ticker import MaxNLocator

    rows = sorted(rows, key=lambda r: r.step)
    steps = [r.step for r in rows]
    fig = _figure(6.5, 3.6 + 2.4 * len(extra), layout="constrained")
    axes = fig.subplots(1 + len(extra), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, ["", *extra], strict=True):
        fids = [r.extra[f"fid_{name}"] if name else r.fid for r in rows]
        ax.plot(steps, fids, marker="o", color="C0" if not name else "C1")
        ax.set_ylabel(f"FID ({name or main})")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_title(title, fontsize=10)
    axes[-1].set_xlabel("training step")
    _save(fig, path, dpi=120)


def fid_vs_calls(path: Path, rows: list[Row], feature: str, n: int) -> None:
    """FID against denoiser calls per image (log axis), one line per sampler (and guidance
    strength); the reference row (the first) and 5% above it as horizontal lines.

    Args:
        rows: ``sweep.csv`` rows, the reference first.
        feature: the FID feature space, for the axis label.
        n: synthetic images per row, for the axis label.
    """
    from matplotlib.ticker import NullLocator

    ref, others = rows[0], rows[1:]
    fig = _figure(6, 4, dpi=120)
    ax = fig.subplots()
    for name, g in dict.fromkeys((r["sampler"], _guidance(r)) for r in others):
        mine = sorted(
            (r for r in others if (r["sampler"], _guidance(r)) == (name, g)),
            key=lambda r: int(r["steps"]),
        )
        ax.plot(
            [int(r["function_evaluations"]) for r in mine],
            [float(r["fid"]) for r in mine],
            marker="o",
            label=name if g is None else f"{name}, S = {g:g}",
        )
    label = f"ddpm, {ref['steps']} steps (reference)"
    ax.axhline(float(ref["fid"]), color="black", linestyle="--", linewidth=1, label=label)
    ax.axhline(
        1.05 * float(ref["fid"]), color="grey", linestyle=":", linewidth=1, label="reference +5%"
    )
    ax.set_xscale("log")
    calls = sorted({int(r["function_evaluations"]) for r in others})
    ax.set_xticks(calls, [str(c) for c in calls])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("denoiser calls per image")
    ax.set_ylabel(f"FID ({feature} features, N = {n})")
    ax.set_title("Sample quality against sampling cost")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path, dpi=120)


def fid_vs_sigma_rel(path: Path, rows: list[EmaSweepRow], title: str) -> None:
    """FID (top) and KID (bottom) against the post-hoc EMA's sigma_rel, one line per checkpoint
    step; each step's classic EMA as a dashed horizontal line of the same colour.

    Args:
        rows: ``ema_sweep.csv`` records (posthoc rows and, optionally, classic rows).
    """
    fig = _figure(6.5, 6.0, layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    steps = sorted({r.step for r in rows})
    for k, step in enumerate(steps):
        mine = sorted(
            (r for r in rows if r.step == step and r.ema == "posthoc"), key=lambda r: r.sigma_rel
        )
        classic = [r for r in rows if r.step == step and r.ema == "classic"]
        for ax, key in zip(axes, ("fid", "kid_mean"), strict=True):
            color = f"C{k % 10}"
            xs, ys = [r.sigma_rel for r in mine], [getattr(r, key) for r in mine]
            ax.plot(xs, ys, marker="o", color=color, label=f"post-hoc EMA, step {step:,}")
            for r in classic:
                label = f"classic EMA, step {step:,}"
                ax.axhline(getattr(r, key), color=color, linestyle="--", label=label)
    axes[0].set_ylabel("FID")
    axes[1].set_ylabel("KID (mean)")
    axes[1].set_xlabel("EMA length sigma_rel (std of the averaging profile / training length)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[0].set_title(title, fontsize=10)
    _save(fig, path, dpi=120)
