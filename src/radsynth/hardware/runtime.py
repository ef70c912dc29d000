"""How a stage runs on this machine, resolved once at the stage's start.

A stage's config holds the user's words (``--device auto``, ``--bf16``, ``--compile auto``); the
stage turns them into one :class:`Runtime` when it starts (:func:`resolve_runtime`) and passes
that object down, so nothing below it resolves a device name again or turns a device back into a
string. The flags' declarations, with one help text each, are in :mod:`radsynth.hardware.flags`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Literal

import torch

from radsynth.hardware.device import auto_flag, resolve_device

Switch = bool | Literal["auto", "on", "off"]


@dataclass(frozen=True)
class Runtime:
    """The resolved runtime settings of one stage."""

    device: torch.device  # where the network and its tensors live
    bf16: bool = False  # bfloat16 autocast (only ever on a GPU; a CPU computes in float32)
    channels_last: bool = False  # channels-last memory format for convolutions
    compile: bool = False  # torch.compile the network
    threads: int | None = None  # CPU threads for this stage; None: as the process set them

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"

    @property
    def dtype(self) -> torch.dtype:
        """The autocast compute dtype: bfloat16 when ``bf16``, else float32."""
        return torch.bfloat16 if self.bf16 else torch.float32

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on the GPU when ``bf16``; a no-op otherwise."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def for_process(self, device: torch.device | str) -> Runtime:
        """The same settings on the device a multi-process launcher gave this process."""
        return replace(self, device=torch.device(device))


def _switch(value: Switch, on_gpu: bool) -> bool:
    """A boolean flag, or an auto/on/off one (auto: on for a GPU, off for a CPU)."""
    return value if isinstance(value, bool) else auto_flag(value, on_gpu)


def resolve_runtime(
    device: str = "auto",
    *,
    bf16: Switch = False,
    channels_last: Switch = False,
    compile: Switch = False,
    threads: int | None = None,
    gpu_only: bool = True,
) -> Runtime:
    """Resolve a stage's runtime flags once.

    Args:
        device: ``auto`` (the first CUDA GPU if any, else the CPU), ``cpu``, ``cuda`` or
            ``cuda:N``.
        bf16, channels_last, compile: a boolean flag, or ``auto``/``on``/``off`` (auto: on for a
            GPU).
        threads: CPU threads for the stage (None: leave the process's setting).
        gpu_only: bf16 and channels-last only ever apply on a GPU (a CPU runs float32 in the
            default layout), as every radsynth stage has always done; False keeps them as given.

    Raises:
        RadsynthError: a bad device name, or a GPU asked for that is not there (one line).
    """
    dev = resolve_device(device)
    on_gpu = dev.type == "cuda"
    use_bf16, use_cl = _switch(bf16, on_gpu), _switch(channels_last, on_gpu)
    if gpu_only and not on_gpu:
        use_bf16 = use_cl = False
    return Runtime(dev, use_bf16, use_cl, _switch(compile, on_gpu), threads)
