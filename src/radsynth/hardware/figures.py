"""How a benchmark or a run hands back what it measured: JSON on stdout (and a file when asked),
and the run's peak memory, which training and the other generators record per run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radsynth.stage import atomic_write_text


def emit_figures(figures: dict[str, Any], out: Path | None) -> str:
    """Print a benchmark's measured figures as JSON (and write them to ``out`` when given);
    returns the MFU as text for the summary line."""
    text = json.dumps(figures, indent=2)
    print(text)
    if out is not None:
        atomic_write_text(out, text + "\n")
    mfu = figures.get("mfu")
    return f"{100 * mfu:.2f}%" if mfu is not None else "unknown"


@dataclass(frozen=True)
class PeakMemory:
    """The most memory a run held, and which counter measured it."""

    gib: float  # GiB (2**30 bytes)
    source: str  # "cuda_max_allocated" (torch's tensors on the GPU) or "cpu_peak_rss"


def peak_memory(device: Any) -> PeakMemory:
    """Peak memory of this run on ``device`` (a ``torch.device``).

    On a GPU: ``torch.cuda.max_memory_allocated`` (torch's tensors only, since the last
    ``reset_peak_memory_stats``; not the caching allocator's reserve or the CUDA context). On
    the CPU: the process's peak resident set size (``getrusage(RUSAGE_SELF).ru_maxrss``,
    KiB on Linux), which counts everything the process ever held, Python and libraries included,
    since it started.
    """
    if device.type == "cuda":
        import torch

        return PeakMemory(torch.cuda.max_memory_allocated(device) / 2**30, "cuda_max_allocated")
    import resource

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return PeakMemory(kib / 2**20, "cpu_peak_rss")
