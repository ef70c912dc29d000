"""Model FLOPs of a denoiser, counted by ``torch.utils.flop_counter.FlopCounterMode``.

The counter has no entry for torch's CPU flash-attention kernels, so they are added with
torch's own SDPA formulas; on a GPU the counted kernels are the ones that run.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def sdpa_cpu_flops(q, k, v, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of torch's CPU flash-attention kernel, which FlopCounterMode does not count."""
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(q, k, v)


def _sdpa_cpu_backward_flops(grad_out, q, k, v, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_backward_flop_count

    return sdpa_backward_flop_count(grad_out, q, k, v)


def train_step_flops(
    model: torch.nn.Module, image: torch.Tensor, class_labels: torch.Tensor | None = None
) -> int:
    """FLOPs of forward + backward of the denoiser on ``image`` (1, C, H, W) (with its class
    (1,) for a conditional network); the gradients are cleared after.

    torch's counter misses the CPU flash-attention kernels, so they are added with torch's own
    SDPA formulas."""
    t = torch.zeros(1, dtype=torch.long, device=image.device)
    return backward_flops(model, lambda: model(image, t, class_labels=class_labels).sample)


def backward_flops(model: torch.nn.Module, forward: Callable[[], torch.Tensor]) -> int:
    """FLOPs of ``forward()`` and the backward pass of its sum; ``model``'s gradients are
    cleared after. Any network's training step can be counted this way (a denoiser above, an
    autoencoder's encode and decode).

    torch's counter misses the CPU flash-attention kernels, so they are added with torch's own
    SDPA formulas."""
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    custom = {
        aten._scaled_dot_product_flash_attention_for_cpu: sdpa_cpu_flops,
        aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_cpu_backward_flops,
    }
    with FlopCounterMode(display=False, custom_mapping=custom) as counter:
        forward().sum().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def forward_flops(model: torch.nn.Module, image: torch.Tensor) -> int:
    """FLOPs of one denoiser forward pass on ``image`` (1, C, H, W)."""
    t = torch.full((1,), 500.0, device=image.device)
    return call_flops(lambda: model(image, t))


def call_flops(forward: Callable[[], object]) -> int:
    """FLOPs of ``forward()`` run without gradients (a denoiser call, an autoencoder's decode).

    torch's counter has no entry for the CPU flash-attention kernel, so it is added with torch's
    own SDPA formula."""
    from torch.utils.flop_counter import FlopCounterMode

    custom = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: sdpa_cpu_flops}
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=custom) as counter:
        forward()
    return counter.get_total_flops()
