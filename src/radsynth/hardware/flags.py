"""The runtime flags every stage that runs a network declares, each with one help text.

``--device``, ``--bf16``, ``--channels-last`` and ``--compile`` are fields of each such stage's
config (a flag maps onto a field one-to-one); their declarations come from here so that a flag
means and says the same in every stage. The stage resolves them once into a
:class:`radsynth.hardware.runtime.Runtime`. Torch-free: configs import it.
"""

from __future__ import annotations

from typing import Any

from radsynth.config import arg

DEVICE_HELP = "auto (this process's GPU if there is one, else the CPU), cpu, cuda or cuda:N"


def _auto(default: Any, auto: str) -> str:
    return f"; auto: {auto}" if isinstance(default, str) else ""


def device_arg() -> Any:
    """``--device``, default ``auto``."""
    return arg("auto", help=DEVICE_HELP)


def bf16_arg(default: bool | str) -> Any:
    """``--bf16``: on/off, or auto/on/off (auto: on for a GPU)."""
    return arg(
        default,
        help="bfloat16 autocast on a GPU (a CPU computes in float32)" + _auto(default, "on a GPU"),
    )


def channels_last_arg(default: bool | str, *, gpu_only: bool = True) -> Any:
    """``--channels-last``; ``gpu_only``: the stage applies it on a GPU only."""
    where = " on a GPU" if gpu_only else " (faster on a GPU)"
    return arg(default, help="channels-last memory format" + where + _auto(default, "on for a GPU"))


def compile_arg(default: bool | str, *, auto: str = "on for a GPU") -> Any:
    """``--compile``: on/off, or auto/on/off with what auto means for the stage."""
    return arg(default, help="torch.compile the network" + _auto(default, auto))


#: torch.compile modes: max-autotune also benchmarks matmul/conv kernels and, on a GPU, replays
#: the step as a CUDA graph (one launch instead of hundreds); reduce-overhead is CUDA graphs only.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile_mode_arg(default: str = "default") -> Any:
    """``--compile-mode``: the ``torch.compile`` mode when ``--compile`` is on."""
    return arg(
        default,
        help="torch.compile mode with --compile: default, reduce-overhead (CUDA graphs), "
        "max-autotune (kernel search + CUDA graphs on a GPU), max-autotune-no-cudagraphs",
    )
