"""Gradient accumulation: one optimizer step's batch through the network in several parts.

The batch's timesteps and noise are drawn whole before it is split, so a run with
``--grad-accum-steps k`` sees the same examples, timesteps and noise as with 1, and its
gradient is the same mean over the batch up to float rounding: part j contributes
sum_j(loss) / B, and the parts' gradients add up in ``.grad``. Only the last part
synchronises the gradients across processes (accelerate's ``no_sync``), so a multi-process
step still all-reduces once.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from radsynth.diffusion.loss import diffusion_loss
from radsynth.errors import RadsynthError


def check_parts(per_device_batch: int, parts: int) -> None:
    """Refuse a split that leaves a part empty or unequal (one line)."""
    if parts < 1 or per_device_batch % parts:
        raise RadsynthError(
            f"--grad-accum-steps {parts} does not divide the {per_device_batch} images each "
            "process draws per step; choose a divisor of it"
        )


def backward_in_parts(
    acc: Any,
    model: torch.nn.Module,
    x0: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    alpha_bar: torch.Tensor,
    prediction_type: str,
    class_labels: torch.Tensor | None,
    parts: int,
) -> torch.Tensor:
    """Backpropagate the mean diffusion loss of the batch, ``parts`` slices at a time.

    Args:
        acc: the ``accelerate.Accelerator`` that prepared ``model``.
        x0, t, noise, class_labels: this process's batch, (B, C, H, W), (B,), like x0, (B,).
        parts: slices of B / parts examples each (see :func:`check_parts`).

    Returns:
        The batch's mean loss, detached (a 0-dim tensor).
    """
    size = len(x0) // parts
    total = x0.new_zeros((), dtype=torch.float32)
    for j in range(parts):
        part = slice(j * size, (j + 1) * size)
        sync = j == parts - 1
        with contextlib.nullcontext() if sync else acc.no_sync(model):
            losses = diffusion_loss(
                model,
                x0[part],
                t[part],
                noise[part],
                alpha_bar,
                prediction_type,
                None if class_labels is None else class_labels[part],
            )
            part_loss = losses.sum() / len(x0)
            acc.backward(part_loss)
        total += part_loss.detach()
    return total
