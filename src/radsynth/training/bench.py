"""``radsynth bench train``: training throughput (images/s) and model FLOPs utilization (MFU).

MFU (Chowdhery et al. 2022, PaLM, appendix B) = achieved model FLOP/s / the device's peak FLOP/s.
Model FLOPs of one training step (forward + backward) are counted by
``torch.utils.flop_counter.FlopCounterMode`` on one image and scaled by the batch size; the
optimizer and EMA updates are timed but not counted, as usual for MFU. On CPU the peak is not
published for a virtual machine, so it is *estimated* from the vector units the CPU reports, and
the printout says so.
"""

from __future__ import annotations

from pathlib import Path

from radsynth.hardware.figures import emit_figures
from radsynth.hardware.threads import cpu_threads
from radsynth.stage import StageResult
from radsynth.training.bench_levers import bench_levers
from radsynth.training.bench_measure import BenchTrainConfig, measure_train

__all__ = ["BenchTrainConfig", "bench_train", "measure_train"]


def bench_train(cfg: BenchTrainConfig) -> StageResult:
    """Time ``cfg.steps`` full training steps (forward, backward, Adam, EMA) of a preset's model
    on synthetic 8-bit images; print and return images/s and MFU (``--levers``: one row per
    lever, see :mod:`radsynth.training.bench_levers`)."""
    if cfg.levers:
        return bench_levers(cfg)
    with cpu_threads(cfg.cpu_threads):
        figures = measure_train(cfg)
    figures.pop("probe")
    mfu_text = emit_figures(figures, cfg.out)
    summary = (
        f"{cfg.preset}: {figures['images_per_s']:.1f} images/s on {figures['device']} "
        f"(batch {figures['batch_size']}, {figures['precision']}), "
        f"{figures['achieved_tflops']:.3f} TFLOP/s, MFU {mfu_text} of {figures['peak_source']}"
    )
    return StageResult(out=cfg.out or Path("."), summary=summary)
