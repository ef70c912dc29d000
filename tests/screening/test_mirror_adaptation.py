"""scripts/eval_mirror_adaptation.py (issue 27's collection-adapted mirror network, measured and
not shipped): without fine-tuning it reproduces the shipped log-odds; with it, the same seed
gives the same log-odds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from sample_films import drawn_frontal

from radsynth.screening.laterality import load_model

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "eval_mirror_adaptation.py"


def _script():
    spec = importlib.util.spec_from_file_location("eval_mirror_adaptation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_adaptation_is_the_shipped_network_without_steps_and_seeded_with_them() -> None:
    script = _script()
    rng = np.random.default_rng(3)
    films = [drawn_frontal(rng, 64).astype(np.float32) for _ in range(12)]
    films = [f[:, ::-1].copy() if i % 2 else f for i, f in enumerate(films)]
    model = load_model()
    z = model.logit(films)
    z[:4] = np.sign(z[:4]) * 6.0  # four sure calls: the pseudo-labelled films of both folds
    untouched = script.adapted_logits(model, films, z, steps=0, seed=0)
    np.testing.assert_allclose(untouched, model.logit(films), rtol=1e-5, atol=1e-6)
    a = script.adapted_logits(model, films, z, steps=3, seed=0)
    np.testing.assert_array_equal(a, script.adapted_logits(model, films, z, steps=3, seed=0))
    assert not np.allclose(a, untouched)  # the fine-tuning changed the networks
