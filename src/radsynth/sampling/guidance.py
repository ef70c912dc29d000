"""Class-conditional sampling with classifier-free guidance (Ho & Salimans 2022).

A conditional checkpoint's network takes a class index; index ``null_index`` is the "no class"
embedding it was trained on with probability ``uncond_prob``. Guidance strength S mixes the
two denoisers:

    D_S(x, sigma, c) = D(x, sigma, null) + S * (D(x, sigma, c) - D(x, sigma, null))

S = 1 is the plain conditional model and is computed with one call, never through the mix;
S = 0 is the unconditional model; S > 1 pushes samples toward what distinguishes class c. The
mix is linear in the network output, so mixing x0 estimates equals mixing eps or v predictions
(Ho & Salimans 2022, eq. 6). For S != 1 the conditional and unconditional halves go through
the network in one batched call of 2B images, so guided sampling costs the same number of
denoiser calls as unguided sampling, each on twice the images.

Seeds and classes (``--label-mix``): the entries ``NAME=N`` are laid out in the order given, in
consecutive seed blocks starting at ``seed_start``: with ``A=3 B=2`` seeds s0..s0+2 are A and
s0+3, s0+4 are B. The class of an image is a function of its seed and the mix alone, so
resuming and "image n depends on seed n alone" hold as for unconditional sampling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from radsynth.errors import RadsynthError


class GuidedDenoiser:
    """``denoiser(x (B, C, H, W), sigma (B,)) -> x0`` for fixed per-image classes.

    Args:
        den: a :class:`radsynth.sampling.denoiser.VPDenoiser` (or any callable with the
            signature ``den(x, sigma, class_labels=..., clip=...)``).
        labels: (B,) int64 class indices, one per image of the batch the sampler runs.
        null_index: the null class's index.
        guidance: S; 1 means one plain conditional call.
        clip_x0: clamp the mixed x0 estimate to [-1, 1] (after mixing, not before).
    """

    def __init__(
        self, den, labels: torch.Tensor, null_index: int, guidance: float, clip_x0: bool
    ) -> None:
        self.den, self.labels, self.null_index = den, labels, null_index
        self.guidance, self.clip_x0 = float(guidance), clip_x0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        labels = self.labels.to(x.device)
        if self.guidance == 1.0:
            return self.den(x, sigma, class_labels=labels)
        both = torch.cat([labels, torch.full_like(labels, self.null_index)])  # (2B,)
        sig = sigma.reshape(-1).expand(x.shape[0])
        x0 = self.den(torch.cat([x, x]), torch.cat([sig, sig]), class_labels=both, clip=False)
        cond, uncond = x0.chunk(2)
        mixed = uncond + self.guidance * (cond - uncond)
        return mixed.clamp(-1, 1) if self.clip_x0 else mixed


def parse_label_mix(entries: Sequence[str]) -> list[tuple[str, int]]:
    """``["A=3", "B=2"]`` -> ``[("A", 3), ("B", 2)]``; one-line error for a bad entry."""
    mix = []
    for entry in entries:
        name, sep, count = entry.rpartition("=")
        if not sep or not name or not count.strip().isdigit() or int(count) < 1:
            raise RadsynthError(f"--label-mix entries are NAME=N with N >= 1, got {entry!r}")
        if any(name == seen for seen, _ in mix):
            raise RadsynthError(f"--label-mix names {name!r} twice")
        mix.append((name, int(count)))
    return mix


def class_of_seed(seed: int, seed_start: int, mix: Sequence[tuple[str, int]]) -> str:
    """The class of ``seed`` under a label mix (consecutive blocks in the order given)."""
    offset = seed - seed_start
    for name, count in mix:
        if 0 <= offset < count:
            return name
        offset -= count
    raise RadsynthError(f"seed {seed} lies outside the --label-mix of {sum(c for _, c in mix)}")


class ClassPlan:
    """Which class each seed gets, and the guidance, for one sampling run.

    Args:
        spec: the checkpoint's classes (:class:`radsynth.training.conditioning.ClassSpec`),
            or None for an unconditional checkpoint.
        label: one class for every image (``--label``), or None.
        mix: ``--label-mix`` entries, or empty.
        guidance: S (``--guidance``), or None for the default (1 = plain conditional).
        seed_start, n: the run's seeds.

    Raises:
        RadsynthError: a label, mix or guidance for an unconditional checkpoint; both a label
            and a mix; a mix whose total is not n; an unknown class name (lists the known ones).
    """

    def __init__(
        self,
        spec,
        label: str | None,
        mix: Sequence[str],
        guidance: float | None,
        seed_start: int,
        n: int,
    ) -> None:
        flags = {
            "--label": label is not None,
            "--label-mix": bool(mix),
            "--guidance": guidance is not None,
        }
        given = [flag for flag, on in flags.items() if on]
        if spec is None and given:
            raise RadsynthError(
                f"{given[0]} needs a class-conditional checkpoint; this one "
                "is unconditional (train with --condition-on)"
            )
        if label is not None and mix:
            raise RadsynthError("give --label or --label-mix, not both")
        if guidance is not None and not guidance >= 0:
            raise RadsynthError(f"--guidance must be 0 or more, got {guidance}")
        self.spec, self.label, self.seed_start = spec, label, seed_start
        self.mix = parse_label_mix(mix)
        if self.mix and sum(c for _, c in self.mix) != n:
            raise RadsynthError(
                f"--label-mix totals {sum(c for _, c in self.mix)} images but --n is {n}"
            )
        for name in [label] if label is not None else [m for m, _ in self.mix]:
            spec.index(name)  # refuses an unknown name, listing the known ones
        self.guidance = None if spec is None else (1.0 if guidance is None else float(guidance))

    def name(self, seed: int) -> str | None:
        """The class of ``seed``; None for an unconditional image (no class, or the null one)."""
        if self.mix:
            return class_of_seed(seed, self.seed_start, self.mix)
        return self.label

    def wrap(self, den, seeds: Sequence[int], clip_x0: bool):
        """The denoiser the sampler runs for these seeds (``den`` itself if unconditional)."""
        if self.spec is None:
            return den
        names = [self.name(s) for s in seeds]
        idx = [self.spec.null_index if m is None else self.spec.index(m) for m in names]
        guidance = self.guidance if any(m is not None for m in names) else 1.0
        return GuidedDenoiser(den, torch.tensor(idx), self.spec.null_index, guidance, clip_x0)

    def identity(self) -> dict:
        """What sampling.json records of the plan (all None for an unconditional run)."""
        return {
            "label": self.label,
            "label_mix": [f"{m}={c}" for m, c in self.mix] or None,
            "guidance": self.guidance,
            "classes": list(self.spec.names) if self.spec else None,
        }
