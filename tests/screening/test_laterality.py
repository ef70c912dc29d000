"""The learned frontal laterality network: antisymmetry, determinism, training on drawn frontal
films, one-line load errors, the mirror-model command, and the shipped weights on real films
(the paediatric test folder it never saw, and the adult films of another hospital)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from sample_films import drawn_frontal, real_films

from radsynth.cli import main
from radsynth.data.imageio import list_images, read_gray, write_png
from radsynth.errors import RadsynthError
from radsynth.screening.laterality import (
    SHIPPED,
    LateralityNet,
    MirrorModel,
    NetShape,
    base_films,
    load_model,
    save_model,
)
from radsynth.screening.mirror_model import MirrorModelConfig, train_net


def _films(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [drawn_frontal(rng) for _ in range(n)]


TINY = MirrorModelConfig(src=Path("unused"), out=Path("unused"), epochs=8, batch=16, width=4,
                         px=32, seed=5)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_model() -> MirrorModel:
    net, losses = train_net(base_films(_films(128, seed=1), TINY.fit), TINY)
    assert losses[-1] < losses[0]
    return MirrorModel((net,), (1.0,), "drawn films", TINY.fit)


def test_logit_is_exactly_antisymmetric(tiny_model: MirrorModel) -> None:
    films = _films(8, seed=2)
    p = tiny_model.probability(films)
    q = tiny_model.probability([f[:, ::-1] for f in films])
    np.testing.assert_allclose(p + q, 1.0, rtol=1e-6)
    yy, xx = (np.mgrid[0:80, 0:80] + 0.5) / 80
    symmetric = 0.3 + 0.4 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.4) ** 2) / 0.05)
    # A left-right symmetric film: no side to prefer (up to the float rounding of the views).
    assert tiny_model.probability([symmetric])[0] == pytest.approx(0.5, abs=1e-3)


def test_trim_stretch_sees_a_padded_or_letterboxed_film_as_the_film_itself() -> None:
    """``trim-stretch`` drops uniform edge bands before stretching: a film padded into a wide
    black frame (as ingest pads a portrait film) gives the network the same input as the film;
    ``pad`` does not. Both stay mirror-symmetric."""
    film = _films(1, seed=9)[0][8:88]  # 80 x 96
    framed = np.zeros((80, 150), np.float32)
    framed[:, 27:123] = film
    trimmed = base_films([film, framed, framed[:, ::-1]], "trim-stretch")
    torch.testing.assert_close(trimmed[1], trimmed[0])
    torch.testing.assert_close(trimmed[2], trimmed[0].flip(-1))
    padded = base_films([film, framed], "pad")
    assert (padded[1] - padded[0]).abs().max() > 0.2
    with pytest.raises(RadsynthError, match="film fit must be one of"):
        base_films([film], "crop")


def test_trained_on_drawn_films_detects_their_mirror_images(tiny_model: MirrorModel) -> None:
    films = _films(60, seed=3)
    mirrored = np.random.default_rng(3).random(60) < 0.5
    planted = [f[:, ::-1] if m else f for f, m in zip(films, mirrored, strict=True)]
    called = tiny_model.probability(planted) > 0.5
    assert np.mean(called == mirrored) >= 0.95


def test_training_is_deterministic() -> None:
    films = base_films(_films(40, seed=4))
    cfg = replace(TINY, epochs=1)
    a, _ = train_net(films, cfg)
    b, _ = train_net(films, cfg)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    c, _ = train_net(films, replace(cfg, seed=6))
    assert not torch.equal(a.head[-1].weight, c.head[-1].weight)


def test_save_load_round_trip_and_one_line_errors(tmp_path: Path, tiny_model) -> None:
    path = tmp_path / "m.safetensors"
    save_model(
        MirrorModel(
            (tiny_model.nets[0], tiny_model.nets[0]), (1.7, 1.7), "drawn films", tiny_model.fit
        ),
        path,
    )
    back = load_model(path)
    assert back.temperatures == (1.7, 1.7) and back.trained_on == "drawn films"
    films = _films(4, seed=7)
    z = tiny_model.probability(films)
    np.testing.assert_allclose(
        back.probability(films), 1 / (1 + np.exp(-np.log(z / (1 - z)) / 1.7)), rtol=1e-5
    )
    with pytest.raises(RadsynthError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    with pytest.raises(RadsynthError, match="not a safetensors file"):
        load_model(tmp_path / "junk.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(RadsynthError, match="not a radsynth mirror model"):
        load_model(tmp_path / "other.safetensors")
    assert isinstance(LateralityNet(NetShape(4, 32)), torch.nn.Module)
    # The film fit is stored; a file written before it was (no "fit" entry) reads as "pad".
    assert back.fit == tiny_model.fit == "trim-stretch"
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta, state = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    save_file(state, str(tmp_path / "old.safetensors"), metadata={
        k: v for k, v in meta.items() if k != "fit"})  # fmt: skip
    assert load_model(tmp_path / "old.safetensors").fit == "pad"
    save_file(state, str(tmp_path / "odd.safetensors"), metadata={**meta, "fit": "crop"})
    with pytest.raises(RadsynthError, match="unknown film fit 'crop'"):
        load_model(tmp_path / "odd.safetensors")


def test_mirror_model_command(tmp_path: Path, capsys) -> None:
    for i, film in enumerate(_films(48, seed=8)):
        write_png(tmp_path / "films" / f"{i:03d}.png", film)
    out = tmp_path / "model"
    argv = ["mirror-model", str(tmp_path / "films"), str(out), "--epochs", "2", "--batch", "16",
            "--width", "4", "--px", "32", "--members", "2"]  # fmt: skip
    assert main(argv) == 0
    assert "held-out accuracy" in capsys.readouterr().out
    model = load_model(out / "mirror_model.safetensors")
    assert len(model.nets) == 2 and model.nets[0].shape == NetShape(4, 32)
    assert (out / "history.csv").read_text().startswith("member,epoch,loss\n0,1,")
    assert main(argv) == 2  # the folder holds a finished model: refused, nothing overwritten
    assert main(["mirror-model", str(tmp_path / "films" / "000.png"), str(tmp_path / "m2")]) == 2
    assert "needs at least" in capsys.readouterr().err
    assert main([*argv[:3], "--artefacts", "1.5"]) == 2
    assert "--artefacts must be in [0, 1]" in capsys.readouterr().err
    assert main([*argv[:3], "--artefacts", "0", "--processing"]) == 2
    assert "--processing is one of the artefacts" in capsys.readouterr().err
    (tmp_path / "films" / "047.png").write_bytes(b"not a png")  # a corrupt film
    assert main(["mirror-model", str(tmp_path / "films"), str(tmp_path / "m3")]) == 2
    assert "cannot read image" in capsys.readouterr().err
    assert not (tmp_path / "m3").exists()


def _planted(films: list[np.ndarray], seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    mirrored = np.random.default_rng(seed).random(len(films)) < 0.5
    return [f[:, ::-1] if m else f for f, m in zip(films, mirrored, strict=True)], mirrored


def test_shipped_weights_on_held_out_paediatric_films(cxr_dir: Path) -> None:
    """The shipped model never saw the test folder (trained on train/, docs/screening.md)."""
    films, mirrored = _planted(real_films(cxr_dir / "test", 200, seed=11), seed=11)
    p = load_model().probability(films)
    assert np.mean((p > 0.5) == mirrored) >= 0.97
    assert np.mean(np.maximum(p, 1 - p) < 0.9) <= 0.05


def test_shipped_weights_on_adult_films_of_another_hospital(cxr_dir: Path) -> None:
    """Cross-source: trained on children's films, applied to adults' from another hospital."""
    adult = cxr_dir.parent / "cxr-adult-actualmed-54" / "frontal"
    if not adult.is_dir():
        pytest.skip("the adult films are not available")
    films, mirrored = _planted([read_gray(p) for p in list_images(adult)], seed=12)
    p = load_model().probability(films)
    assert np.mean((p > 0.5) == mirrored) >= 0.88


def test_shipped_weights_are_in_the_package() -> None:
    model = load_model()
    assert SHIPPED.is_file() and model.trained_on.startswith("Kermany") and len(model.nets) == 3
