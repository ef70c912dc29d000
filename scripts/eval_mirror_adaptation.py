"""Measure a collection-adapted mirror network against the shipped one (issue 27; not shipped).

The experiment of docs/screening.md, "Third round": films of SRC are planted as ``radsynth bench
orient`` plants them (the same draw for the same ``--seed``: a seeded ``--fraction`` mirrored,
then ``--artefacts`` with ``--processing``), and the mirror rule of
:func:`radsynth.screening.mirror.decide_mirrored` is run on three sets of log-odds:

- **shipped**: the shipped ensemble, as ``orient`` runs it;
- **adapted**: self-training on the collection itself. The films the shipped network and the
  collection's prior call with P >= 0.99 are turned to the standard side and become pretext
  films (standard, and mirrored with label 1, as ``radsynth mirror-model`` trains); each member
  of the ensemble is fine-tuned on them for ``--steps`` steps (AdamW, learning rate 3e-4,
  batch 32, the training augmentation of :mod:`radsynth.screening.mirror_model`) and divided
  by its shipped temperature. Cross-fitted in two seeded folds: a film is scored by networks
  fine-tuned on the other fold's films only, so no film's call rests on its own pseudo-label
  (self-training: Lee, *ICML Workshop on Challenges in Representation Learning*, 2013);
- **mean**: the average of the shipped and the adapted log-odds.

    OMP_NUM_THREADS=1 PYTHONPATH=src python scripts/eval_mirror_adaptation.py SRC --seed 0
"""

from __future__ import annotations

import argparse
import copy
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from radsynth.errors import RadsynthError
from radsynth.screening.bench import exact_line, load_films, plant_mirrors
from radsynth.screening.laterality import MirrorModel, base_films, load_model, mirrored_logits
from radsynth.screening.mirror import collection_prior, decide_mirrored, marker_asymmetry
from radsynth.screening.mirror_model import augment as pretext_views

SURE = math.log(99.0)  # log-odds of P 0.99: the pseudo-labels


def adapted_logits(
    model: MirrorModel, films: list[np.ndarray], z: np.ndarray, steps: int, seed: int
) -> np.ndarray:
    """(N,) calibrated log-odds of "mirrored" from the members fine-tuned on the other fold's
    sure films (module docstring)."""
    prior = collection_prior(z)
    post = z + math.log(prior / (1.0 - prior))
    fold = np.random.default_rng(seed + 7).permutation(len(films)) % 2
    x = base_films(films, model.fit)
    g = torch.Generator().manual_seed(seed)
    out = np.zeros(len(films))
    with torch.random.fork_rng():  # dropout draws from torch's global generator: seed it here
        torch.manual_seed(seed)
        for k in (0, 1):
            out[fold == k] = _fold_logits(model, films, x, post, fold, k, steps, g)
    return out


def _fold_logits(
    model: MirrorModel,
    films: list[np.ndarray],
    x: torch.Tensor,
    post: np.ndarray,
    fold: np.ndarray,
    k: int,
    steps: int,
    g: torch.Generator,
) -> np.ndarray:
    """The calibrated log-odds of fold ``k``'s films from the members fine-tuned on the other
    fold's sure films."""
    pseudo = np.flatnonzero((np.abs(post) >= SURE) & (fold != k))
    standard = x[pseudo]
    standard = torch.where(
        torch.from_numpy(post[pseudo] > 0)[:, None, None, None], standard.flip(-1), standard
    )
    scored = [films[i] for i in np.flatnonzero(fold == k)]
    members = []
    for net0, temperature in zip(model.nets, model.temperatures, strict=True):
        net = copy.deepcopy(net0).to(memory_format=torch.contiguous_format).train()
        opt = torch.optim.AdamW(net.parameters(), 3e-4, weight_decay=1e-3)
        for _ in range(steps if len(pseudo) else 0):
            xb = standard[torch.randint(0, len(standard), (32,), generator=g)]
            y = torch.rand(len(xb), generator=g) < 0.5
            xb = torch.where(y[:, None, None, None], xb.flip(-1), xb)
            logit = net(pretext_views(xb, g, net.shape.px))
            loss = F.binary_cross_entropy_with_logits(logit, y.float())
            opt.zero_grad()
            loss.backward()
            opt.step()
        members.append(mirrored_logits([net.eval()], scored, fit=model.fit)[0] / temperature)
    return np.mean(members, 0)


def line(name: str, z: np.ndarray, marker: np.ndarray, mirrored: np.ndarray) -> str:
    """Right among decided films, review and wrong flips of the mirror rule on log-odds ``z``."""
    call = decide_mirrored(z, marker, 0.9)
    wrong_flips = int((call.flip & ~mirrored).sum())
    scored = exact_line(name, call.flip == mirrored, call.review)
    return f"{scored}; standard films flipped {wrong_flips}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=0, help="films drawn (0: all)")
    ap.add_argument("--size-px", type=int, default=224)
    ap.add_argument("--fraction", type=float, default=0.5, help="share of the films mirrored")
    ap.add_argument("--artefacts", type=float, default=0.0)
    ap.add_argument("--processing", action="store_true")
    ap.add_argument("--steps", type=int, default=60, help="fine-tuning steps per member and fold")
    args = ap.parse_args()
    if args.processing and args.artefacts == 0:
        ap.error("--processing is one of the artefacts: give --artefacts P > 0 too")
    if not (0.0 <= args.fraction <= 1.0 and 0.0 <= args.artefacts <= 1.0 and args.steps >= 0):
        ap.error("--fraction and --artefacts must be in [0, 1] and --steps >= 0")
    try:
        films = load_films(args.src, args.n, args.size_px, args.seed)
    except RadsynthError as err:
        ap.error(str(err))
    films, mirrored = plant_mirrors(
        films, args.seed, args.fraction, args.artefacts, args.processing
    )
    model = load_model()
    z = model.logit(films)
    marker = np.array([marker_asymmetry(f) for f in films])
    za = adapted_logits(model, films, z, args.steps, args.seed)
    print(f"{len(films)} films from {args.src}, {int(mirrored.sum())} mirrored (seed {args.seed})")
    for name, logits in (("shipped", z), ("adapted", za), ("mean", (z + za) / 2)):
        print(line(name, logits, marker, mirrored), flush=True)


if __name__ == "__main__":
    main()
