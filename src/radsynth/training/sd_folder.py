"""A local diffusers Stable Diffusion folder (Rombach et al. 2022), loaded for fine-tuning on
grey films and for sampling them; nothing is ever downloaded (``local_files_only=True``).

The folder holds ``vae/``, ``unet/``, ``text_encoder/``, ``tokenizer/`` and ``scheduler/``
(as ``StableDiffusionPipeline.save_pretrained`` writes them). SDXL folders (two text
encoders) are refused. Films go in as 3 equal channels and come back as their channel mean;
the UNet reads a prompt through cross-attention over the text encoder's last hidden states.

Prompts come from the manifest's label columns through a template
(``"a chest x-ray showing {label}"``): each distinct prompt of the train split is a class, in
sorted order, and the empty prompt is the null class of classifier-free guidance, so the
class machinery of :mod:`radsynth.training.conditioning` and :mod:`radsynth.sampling.guidance`
(``--label``, ``--label-mix``, ``--guidance``) carries over unchanged.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.errors import RadsynthError
from radsynth.records.manifest import read_manifest
from radsynth.stage import sha256_file
from radsynth.training.conditioning import ClassSpec

COMPONENTS = ("vae", "unet", "text_encoder", "tokenizer", "scheduler")
#: Attention projections LoRA adapts (Hu et al. 2022), as in diffusers' text-to-image LoRA.
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def check_sd_folder(folder: Path) -> Path:
    """The folder, checked to be a local SD 1.x/2.x diffusers folder (one line otherwise)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RadsynthError(f"--init-from {folder}: no such folder")
    index = folder / "model_index.json"
    kind = index.read_text(errors="replace") if index.is_file() else ""
    if "XL" in kind or (folder / "text_encoder_2").exists():
        raise RadsynthError(
            f"--init-from {folder} is a Stable Diffusion XL folder; only SD 1.x/2.x folders "
            "(one text encoder) are supported"
        )
    for name in COMPONENTS:
        if not (folder / name).is_dir():
            raise RadsynthError(
                f"--init-from {folder} has no {name}/ folder (a diffusers Stable Diffusion "
                f"folder holds {', '.join(COMPONENTS)})"
            )
    return folder


def folder_digest(folder: Path) -> str:
    """sha256 over every file of the components sampling loads (names and contents)."""
    h = hashlib.sha256()
    for name in COMPONENTS:
        for path in sorted(p for p in (Path(folder) / name).rglob("*") if p.is_file()):
            h.update(f"{path.relative_to(folder)}\0{sha256_file(path)}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class SDParts:
    """The frozen parts of a Stable Diffusion folder and its trainable UNet."""

    vae: Any  # diffusers AutoencoderKL, eval, frozen
    unet: Any  # diffusers UNet2DConditionModel
    text_encoder: Any  # transformers CLIPTextModel, eval, frozen
    tokenizer: Any  # transformers CLIPTokenizer
    betas: torch.Tensor  # (T,) float64 training betas of the folder's scheduler
    prediction_type: str  # "epsilon" | "v_prediction"
    scaling_factor: float  # the VAE's latent scale
    folder: Path


def load_sd_parts(folder: Path) -> SDParts:
    """Load every component from disk only; one-line error for an unreadable one."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    folder = check_sd_folder(folder)
    loaders = {
        "vae": lambda: AutoencoderKL.from_pretrained(folder / "vae", local_files_only=True),
        "unet": lambda: UNet2DConditionModel.from_pretrained(
            folder / "unet", local_files_only=True
        ),
        "text_encoder": lambda: CLIPTextModel.from_pretrained(
            folder / "text_encoder", local_files_only=True
        ),
        "tokenizer": lambda: CLIPTokenizer.from_pretrained(
            folder / "tokenizer", local_files_only=True
        ),
        "scheduler": lambda: DDPMScheduler.from_pretrained(
            folder / "scheduler", local_files_only=True
        ),
    }
    parts = {}
    for name, load in loaders.items():
        try:
            parts[name] = load()
        except Exception as exc:  # diffusers/transformers raise many types for a bad folder
            message = f"--init-from {folder}: cannot load {name}/: {exc}".splitlines()[0]
            raise RadsynthError(message) from None
    for frozen in (parts["vae"], parts["text_encoder"]):
        frozen.eval().requires_grad_(False)
    scheduler = parts["scheduler"]
    if scheduler.config.prediction_type not in ("epsilon", "v_prediction"):
        raise RadsynthError(f"{folder}: prediction type {scheduler.config.prediction_type}")
    return SDParts(
        vae=parts["vae"],
        unet=parts["unet"],
        text_encoder=parts["text_encoder"],
        tokenizer=parts["tokenizer"],
        betas=scheduler.betas.double(),
        prediction_type=scheduler.config.prediction_type,
        scaling_factor=float(parts["vae"].config.scaling_factor),
        folder=folder,
    )


def add_lora(unet: torch.nn.Module, rank: int) -> None:
    """Freeze the UNet and add trainable LoRA adapters of ``rank`` (needs ``peft``)."""
    try:
        from peft import LoraConfig
    except ImportError:
        raise RadsynthError("--lora-rank needs peft: pip install 'radsynth[lora]'") from None
    unet.requires_grad_(False)
    config = LoraConfig(
        r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=LORA_TARGETS
    )
    unet.add_adapter(config)


def trainable(unet: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """The parameters fine-tuning changes (all, or the LoRA adapters), by name."""
    return {name: p for name, p in unet.named_parameters() if p.requires_grad}


@torch.no_grad()
def encode_prompts(parts: SDParts, prompts: list[str]) -> torch.Tensor:
    """Text-encoder states (K, L, D) of prompts padded to the tokenizer's length (77)."""
    tok = parts.tokenizer
    ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True)
    return parts.text_encoder(torch.tensor(ids.input_ids))[0]


class PromptUNet(torch.nn.Module):
    """``net(x, t, class_labels)``: the SD UNet conditioned on the prompt of each class index
    (index K, one past the last class, is the empty prompt).

    ``prompt_states`` (K+1, L, D) is a plain attribute, not a buffer, and must already be on the
    UNet's device: DistributedDataParallel broadcasts buffers at every forward, which would
    hang when only some processes run one (the val loss deals its chunks out by rank)."""

    def __init__(self, unet: torch.nn.Module, prompt_states: torch.Tensor) -> None:
        super().__init__()
        self.unet = unet
        self.prompt_states = prompt_states  # (K+1, L, D), constant

    def forward(self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor) -> Any:
        states = self.prompt_states[class_labels.to(self.prompt_states.device)]
        return self.unet(x, t, encoder_hidden_states=states.to(x.dtype))


def prompt_classes(
    manifest: Path, template: str
) -> tuple[ClassSpec, dict[str, torch.Tensor], list[str]]:
    """Each train/val film's prompt class, from the manifest's label columns.

    Returns:
        The classes (joint label values, sorted), ``{"train": (N,), "val": (N,)}`` int64 class
        indices in manifest order, and the prompt of each class plus ``""`` (the null class).

    Raises:
        RadsynthError: the template names a column the manifest lacks, or is malformed.
    """
    try:
        columns = tuple(
            dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(template) if f is not None)
        )
    except ValueError as exc:
        raise RadsynthError(f"--prompt {template!r} is not a valid template: {exc}") from None
    if any(not c.isidentifier() for c in columns):
        raise RadsynthError(f"--prompt {template!r}: fields must be plain column names")
    hint = f"--prompt {template!r} names it; ingest with that label column"
    rows = [
        r for r in read_manifest(manifest, ("split", *columns), hint) if r.split in ("train", "val")
    ]
    joint = ["|".join(r.value(c) for c in columns) for r in rows]
    names = tuple(sorted({j for r, j in zip(rows, joint, strict=True) if r.split == "train"}))
    spec = ClassSpec(columns, names)
    labels = {
        split: torch.tensor(
            [spec.index(j) for r, j in zip(rows, joint, strict=True) if r.split == split],
            dtype=torch.long,
        )
        for split in ("train", "val")
    }
    values = [n.split("|") if columns else [] for n in names]
    prompts = [template.format(**dict(zip(columns, v, strict=True))) for v in values]
    return spec, labels, [*prompts, ""]
