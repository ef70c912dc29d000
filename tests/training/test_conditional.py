"""Class-conditional training: classes in the checkpoint, condition dropout, unchanged default.

Unconditional training was also checked bit for bit against the code before conditioning
(commit 075e86c): the tiny preset, seed 3, on make_fake_ingest gave the same sha256 for all
four weight files (e.g. step-0000004/model.safetensors 0c7844d9...). That hash depends on the
BLAS kernels, so the test below checks the parts that make it hold instead: the same initial
weights as the pre-conditioning network, and no class input.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import UNet2DModel
from fake_runs import make_disc_ingest

from radsynth.cli import main
from radsynth.config import build_config
from radsynth.models.unet import UNetConfig, build_unet
from radsynth.training.checkpoint import load_checkpoint, read_checkpoint_config
from radsynth.training.conditioning import ClassSpec, drop_condition
from radsynth.training.config import TrainConfig, model_config
from radsynth.training.train import train

FAST = {"preset": "tiny", "cpu_threads": 1}


def test_conditional_training_records_classes(tmp_path: Path) -> None:
    data = make_disc_ingest(tmp_path / "data")
    out = tmp_path / "train"
    train(build_config(TrainConfig, {"data": data, "out": out, **FAST,
                                     "condition_on": ("label",)}))  # fmt: skip
    ck = load_checkpoint(out)
    spec = ClassSpec.from_dict(ck.config["classes"])
    assert spec == ClassSpec(("label",), ("bright", "dark"))
    assert ck.config["classes"]["null_index"] == 2
    assert ClassSpec.from_dict(spec.to_dict()) == spec
    assert ck.model.class_embedding.num_embeddings == 3  # bright, dark, null
    x, t = torch.zeros(2, 1, 32, 32), torch.tensor([5, 5])
    a = ck.model(x, t, class_labels=torch.tensor([0, 2])).sample
    b = ck.model(x, t, class_labels=torch.tensor([1, 2])).sample
    assert not torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    again = tmp_path / "again"
    train(build_config(TrainConfig, {"data": data, "out": again, **FAST,
                                     "condition_on": ("label",)}))  # fmt: skip
    assert (out / "checkpoints/step-0000004/ema.safetensors").read_bytes() == (
        again / "checkpoints/step-0000004/ema.safetensors"
    ).read_bytes()


def test_unconditional_network_is_the_pre_conditioning_one(tmp_path: Path) -> None:
    cfg = build_config(TrainConfig, {"data": tmp_path, "out": tmp_path / "o", **FAST})
    torch.manual_seed(0)
    new = build_unet(model_config(cfg))
    torch.manual_seed(0)
    old = UNet2DModel(  # the arguments build_unet passed before conditioning existed
        sample_size=32, in_channels=1, out_channels=1, block_out_channels=(8, 16),
        layers_per_block=1, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=2,
        attention_head_dim=8, dropout=0.0,
    )  # fmt: skip
    assert new.class_embedding is None
    assert new.state_dict().keys() == old.state_dict().keys()
    assert all(torch.equal(v, old.state_dict()[k]) for k, v in new.state_dict().items())
    with pytest.raises(ValueError, match="num_classes"):
        UNetConfig(num_classes=1)


def test_unconditional_checkpoint_has_no_classes(tmp_path: Path) -> None:
    data = make_disc_ingest(tmp_path / "data")
    train(build_config(TrainConfig, {"data": data, "out": tmp_path / "t", **FAST}))
    meta = read_checkpoint_config(load_checkpoint(tmp_path / "t").path)
    assert "classes" not in meta and meta["model"]["num_classes"] == 0


def test_drop_condition_rate_and_seed() -> None:
    labels = torch.zeros(20_000, dtype=torch.long)
    dropped = drop_condition(labels, 0.1, 7, torch.Generator().manual_seed(0))
    share = (dropped == 7).float().mean().item()
    assert 0.09 < share < 0.11 and set(dropped.unique().tolist()) == {0, 7}
    again = drop_condition(labels, 0.1, 7, torch.Generator().manual_seed(0))
    assert torch.equal(dropped, again)


def test_condition_on_errors_are_one_line(tmp_path: Path, capsys) -> None:
    data = make_disc_ingest(tmp_path / "data")
    code = main(["train", str(data), str(tmp_path / "t"), "--preset", "tiny",
                 "--condition-on", "sex"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no label column 'sex'" in err


@pytest.mark.parametrize(
    ("manifest", "why"),
    [(b"image,split,finding\n000.png,train,caf\xe9\n", "is not UTF-8"),
     (b"image,split,finding\n", "lists no images"),
     (b"image,finding\n000.png,x\n", "has no column 'split'")],
)  # fmt: skip
def test_a_bad_manifest_is_one_line(tmp_path: Path, manifest: bytes, why: str) -> None:
    """The manifest is read through radsynth.io: a Latin-1 export is a one-line error."""
    from radsynth.errors import RadsynthError
    from radsynth.training.conditioning import read_class_labels

    (tmp_path / "manifest.csv").write_bytes(manifest)
    with pytest.raises(RadsynthError) as err:
        read_class_labels(tmp_path / "manifest.csv", ("finding",))
    assert why in str(err.value) and "\n" not in str(err.value)
