"""``radsynth bench sample``: sampling throughput (images/s) and model FLOPs utilization (MFU).

MFU (Chowdhery et al. 2022, PaLM, appendix B) = achieved model FLOP/s / the device's peak FLOP/s.
The model FLOPs of one image are those of one denoiser forward pass on one image, counted by
``torch.utils.flop_counter.FlopCounterMode``, times the sampler's denoiser calls per image; the
samplers' own elementwise updates are timed but not counted. With ``--autoencoder`` the network
samples latents and each is decoded to a full-size film, timed, and the decoder's FLOPs per
image are counted too. Peaks come from
:func:`radsynth.hardware.device.peak_flops` (datasheet bf16 peaks for GPUs, an estimate on CPU),
so training and sampling MFU are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from radsynth.config import CPU_ALIAS, Alias, arg, build_config
from radsynth.errors import RadsynthError
from radsynth.hardware.device import (
    auto_flag,
    device_name,
    peak_flops,
    peak_memory_gib,
    resolve_device,
)
from radsynth.hardware.figures import emit_figures
from radsynth.hardware.flags import (
    bf16_arg,
    channels_last_arg,
    compile_arg,
    compile_mode_arg,
    device_arg,
)
from radsynth.hardware.flops import call_flops, forward_flops
from radsynth.hardware.threads import cpu_threads
from radsynth.hardware.timing import time_calls
from radsynth.sampling.denoiser import VPDenoiser
from radsynth.sampling.guidance import GuidedDenoiser
from radsynth.sampling.latent import LatentDecoder
from radsynth.sampling.samplers import (
    DEFAULT_SPACING,
    SAMPLERS,
    SeededNoise,
    function_evaluations,
    get_sampler,
    sampling_sigmas,
    start_noise,
)
from radsynth.stage import StageResult
from radsynth.training.autoencoder_checkpoint import LoadedAutoencoder
from radsynth.training.config import TrainConfig, diffusion_config, model_config


@dataclass(frozen=True)
class BenchSampleConfig:
    """Measure sampling images/s and MFU for a checkpoint or a preset's random network."""

    ckpt: Path | None = arg(None, help="checkpoint to measure; none: a random net of --preset")
    preset: Literal["tiny", "demo", "paper", "latent-512", "latent-1024"] = arg(
        "tiny", help="TrainConfig preset (no --ckpt)"
    )
    sampler: str = arg("dpmpp", help="sampler to time", choices=tuple(SAMPLERS))
    steps: int = arg(20, help="sampler steps; 0 = every training timestep (the DDPM reference)")
    batch: int = arg(8, help="images per denoiser call")
    n: int = arg(0, help="images to time (0 = one batch); rounded up to whole batches")
    warmup_batches: int = arg(1, help="untimed batches first (compilation, allocator, caches)")
    bf16: Literal["auto", "on", "off"] = bf16_arg("auto")
    channels_last: Literal["auto", "on", "off"] = channels_last_arg("auto")
    compile: Literal["auto", "on", "off"] = compile_arg("auto")
    compile_mode: str = compile_mode_arg()
    device: str = device_arg()
    compile_backend: str = arg("inductor", help="torch.compile backend (eager: no codegen)")
    cpu_threads: int = arg(0, help="torch CPU threads (0 = torch's default)")
    seed: int = arg(0, help="seed of the random network and the first image")
    out: Path | None = arg(None, help="optional JSON file for the measured figures")
    guidance: float | None = arg(
        None, help="classifier-free guidance S on a conditional network (none: unconditional)"
    )
    autoencoder: str | None = arg(
        None,
        help="train-autoencoder preset (f8-512, f8-1024, tiny): the random network samples its "
        "latents and a random autoencoder of it decodes them, timed (no --ckpt)",
    )

    #: ``--cpu`` (deprecated) still means ``--device cpu``, for one release.
    ALIASES: ClassVar[tuple[Alias, ...]] = (CPU_ALIAS,)
    # The preset names the TrainConfig preset measured; it sets no bench fields itself.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {name: {} for name in TrainConfig.PRESETS}


@dataclass(frozen=True)
class Network:
    """What the benchmark samples from."""

    model: torch.nn.Module
    betas: torch.Tensor  # (T,) float64
    prediction_type: str
    image_size_px: int  # side of what the network samples (a latent's side in latent space)
    source: str  # checkpoint path or "random <preset>"
    channels: int = 1  # channels of what the network samples
    decoder: LatentDecoder | None = None  # latents to films; None: it samples films


def random_decoder(preset: str, seed: int, device: torch.device) -> LatentDecoder:
    """A randomly initialised autoencoder of a ``train-autoencoder`` preset, as the sampler's
    latent decoder (scale factor 1: a random network's latents have no trained scale).

    Raises:
        RadsynthError: an unknown preset (one line).
    """
    from radsynth.latent.config import AutoencoderConfig
    from radsynth.latent.train import model_shape
    from radsynth.models.autoencoder import build_autoencoder

    if preset not in AutoencoderConfig.PRESETS:
        raise RadsynthError(f"--autoencoder {preset!r} is not a train-autoencoder preset")
    acfg = build_config(AutoencoderConfig, {"data": ".", "out": ".", "preset": preset})
    shape = model_shape(acfg, channels=1)
    torch.manual_seed(seed)
    model = build_autoencoder(shape).to(device).eval().requires_grad_(False)
    ae = LoadedAutoencoder(model, shape, 1.0, f"random {preset}", Path(f"random {preset}"))
    return LatentDecoder(ae, scale_factor=1.0, record={"preset": preset})


def load_network(cfg: BenchSampleConfig, device: torch.device) -> Network:
    """The checkpoint's EMA network, or a randomly initialised network of ``cfg.preset``."""
    if cfg.ckpt is not None:
        from radsynth.training.checkpoint import load_checkpoint

        ck = load_checkpoint(cfg.ckpt, weights="ema", device=device)
        return Network(ck.model, ck.betas, ck.prediction_type, ck.image_size_px, str(ck.path))
    from radsynth.models.unet import build_unet

    tcfg = build_config(TrainConfig, {"data": ".", "out": ".", "preset": cfg.preset})
    decoder = None if cfg.autoencoder is None else random_decoder(cfg.autoencoder, cfg.seed, device)
    channels, side = 1, tcfg.image_size_px
    if decoder is not None:  # the UNet samples the autoencoder's latents, as train builds it
        if decoder.image_size_px != side:
            raise RadsynthError(
                f"--autoencoder {cfg.autoencoder} decodes {decoder.image_size_px} px films, "
                f"--preset {cfg.preset} is for {side} px"
            )
        channels, side = decoder.ae.shape.latent_shape[:2]
    torch.manual_seed(cfg.seed)
    classes = 2 if cfg.guidance is not None else 0  # a two-class network to guide
    mcfg = replace(model_config(tcfg, channels=channels, num_classes=classes), image_size_px=side)
    model = build_unet(mcfg).to(device).eval()
    diffusion = diffusion_config(tcfg)
    source = f"random {cfg.preset}" + (f" + {cfg.autoencoder}" if decoder else "")
    return Network(
        model, diffusion.betas(), diffusion.prediction_type, side, source, channels, decoder
    )


#: The study's sample count, for the projected time of a full sampling run.
STUDY_IMAGES = 27_000


def bench_sample(cfg: BenchSampleConfig) -> StageResult:
    """Time sampling whole batches with ``cfg.sampler``; print and return images/s and MFU."""
    get_sampler(cfg.sampler)
    if cfg.batch < 1 or cfg.n < 0 or cfg.steps < 0 or cfg.warmup_batches < 0:
        raise RadsynthError("batch must be positive; n, steps and warmup_batches not negative")
    with cpu_threads(cfg.cpu_threads):
        figures = measure_sample(cfg)
    figures.pop("probe")
    mfu_text = emit_figures(figures, cfg.out)
    summary = (
        f"{figures['network']}: {figures['images_per_s']:.3g} images/s with {cfg.sampler} x "
        f"{figures['steps']} steps ({figures['denoiser_calls_per_batch']:g} denoiser calls, "
        f"{figures['network_images_per_image']:g} network passes per image) on "
        f"{figures['device']} (batch {cfg.batch}, {figures['precision']}), "
        f"{figures['achieved_tflops']:.4f} TFLOP/s, MFU {mfu_text} of {figures['peak_source']}; "
        f"{STUDY_IMAGES:,} images would take {figures['minutes_for_27000']:.1f} min"
    )
    return StageResult(out=cfg.out or Path("."), summary=summary)


def measure_sample(cfg: BenchSampleConfig) -> dict[str, Any]:
    """The measured figures of one sampling benchmark (see :func:`bench_sample`)."""
    device = resolve_device(cfg.device)
    on_gpu = device.type == "cuda"
    net = load_network(cfg, device)
    bf16, channels_last = auto_flag(cfg.bf16, on_gpu), auto_flag(cfg.channels_last, on_gpu)
    compiled = auto_flag(cfg.compile, on_gpu)
    if channels_last:
        net.model.to(memory_format=torch.channels_last)
    size, shape = net.image_size_px, (net.channels, net.image_size_px, net.image_size_px)
    conditional = getattr(net.model, "class_embedding", None) is not None
    counted = WithClass(net.model) if conditional else net.model
    flops_forward = forward_flops(counted, torch.randn(1, *shape, device=device))
    decode, flops_decode = net.decoder, 0  # latents to films, and its FLOPs per image
    if decode is not None:
        flops_decode = call_flops(lambda: decode(torch.zeros(1, *shape, device=device)))
    model = net.model
    if compiled:  # a CUDA-graph mode replays the fixed-shape denoiser call as one graph
        mode = None if cfg.compile_backend == "eager" else cfg.compile_mode
        model = torch.compile(net.model, backend=cfg.compile_backend, mode=mode)
    autocast = torch.bfloat16 if bf16 else None
    clip = decode is None  # latents exceed [-1, 1] by design, as in radsynth sample
    den = VPDenoiser(model, net.betas, net.prediction_type, autocast, channels_last, clip_x0=clip)
    calls = CallCounter(den)
    guided = calls
    if conditional:  # class 0 for every image, null class = num_class_embeds - 1
        null = net.model.class_embedding.num_embeddings - 1
        strength = 1.0 if cfg.guidance is None else cfg.guidance  # 1: plain conditional
        guided = GuidedDenoiser(
            calls, torch.zeros(cfg.batch, dtype=torch.long), null, strength, True
        )
    elif cfg.guidance is not None:
        raise RadsynthError("--guidance needs a class-conditional checkpoint")
    steps = cfg.steps or len(net.betas)
    sigmas = sampling_sigmas(den.train_sigmas, steps, DEFAULT_SPACING[cfg.sampler])
    sampler = get_sampler(cfg.sampler)
    n_batches = max(1, -(-cfg.n // cfg.batch))

    first: list[torch.Tensor] = []  # the first timed batch, to compare with another run

    def one_batch(first_seed: int, schedule: torch.Tensor) -> None:
        noise = SeededNoise(range(first_seed, first_seed + cfg.batch), device)
        x = start_noise(noise, shape, float(schedule[0]))
        images = sampler(guided, x, schedule, noise)  # (B, C, h, w): films, or latents
        if decode is not None:  # each latent on its own, as radsynth sample does
            images = decode(images)  # (B, 1, H, W) films at full size
        images = images.float().cpu()  # .cpu() waits for the GPU
        if first_seed == cfg.seed and not first:
            first.append(images)

    def warmup(i: int) -> None:  # same shapes as the timed batches, fewer steps
        one_batch(cfg.seed + 10**6 + i * cfg.batch, sigmas[-3:] if len(sigmas) > 3 else sigmas)
        calls.reset()  # count the timed batches only

    timing = time_calls(
        warmup,
        lambda i: one_batch(cfg.seed + i * cfg.batch, sigmas),
        cfg.warmup_batches,
        n_batches,
        device,
    )
    seconds = timing.seconds
    images = n_batches * cfg.batch
    nfe = function_evaluations(cfg.sampler, steps)
    images_per_s = images / seconds
    passes = calls.images / images  # network passes per image: nfe, or 2 nfe when guided
    achieved = images_per_s * (flops_forward * passes + flops_decode)
    peak, peak_note = peak_flops(device)
    return {
        "benchmark": "sample",
        "network": net.source,
        "device": device_name(device),
        "threads": torch.get_num_threads(),
        "image_size_px": size if decode is None else decode.image_size_px,
        "latent_shape": list(shape) if decode is not None else None,
        "decode_flops_per_image": flops_decode,
        "sampler": cfg.sampler,
        "steps": steps,
        "function_evaluations": nfe,
        "batch": cfg.batch,
        "images": images,
        "precision": "bf16" if bf16 else "fp32",
        "channels_last": channels_last,
        "compile": compiled,
        "warmup_seconds": timing.warmup_seconds,
        "forward_flops_per_image": flops_forward,
        "images_per_s": images_per_s,
        "seconds": seconds,
        "minutes_for_27000": STUDY_IMAGES / images_per_s / 60,
        "achieved_tflops": achieved / 1e12,
        "peak_tflops": peak / 1e12 if peak else None,
        "peak_source": peak_note,
        "mfu": achieved / peak if peak else None,
        "peak_memory_gib": peak_memory_gib(device),
        "guidance": cfg.guidance,
        "denoiser_calls_per_batch": calls.calls / n_batches,
        "network_images_per_image": passes,
        "compile_mode": cfg.compile_mode if compiled else None,
        "probe": first[0],  # (batch, 1, S, S) images of seeds seed.. (a tensor, not JSON)
    }


class CallCounter:
    """Counts denoiser calls and the images they carry (guided calls carry 2B)."""

    def __init__(self, den: VPDenoiser) -> None:
        self.den, self.train_sigmas = den, den.train_sigmas
        self.reset()

    def reset(self) -> None:
        self.calls = self.images = 0

    def __call__(self, x, sigma, **kwargs):
        self.calls += 1
        self.images += len(x)
        return self.den(x, sigma, **kwargs)


class WithClass(torch.nn.Module):
    """A conditional network called as ``net(x, t)`` with class 0, for the FLOP counter."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, t: torch.Tensor):
        return self.net(x, t, torch.zeros(len(x), dtype=torch.long, device=x.device))
