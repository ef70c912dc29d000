"""``radsynth train --ema posthoc``: snapshot files round-trip, bad snapshots are one-line errors,
and an interrupted run resumes to the same weights, averages and snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from radsynth.config import build_config
from radsynth.errors import RadsynthError
from radsynth.layout import ema_snapshot_file
from radsynth.stage import sha256_file
from radsynth.training.checkpoint import list_checkpoints, load_training_state
from radsynth.training.config import TrainConfig
from radsynth.training.ema_snapshots import (
    STATE_KEY,
    list_snapshots,
    load_average,
    read_snapshot_info,
    write_snapshot,
)
from radsynth.training.posthoc_ema import PostHocEMA
from radsynth.training.train import train

FAST = {"preset": "tiny", "cpu_threads": 1, "ema": "posthoc"}


def run(data: Path, out: Path, **overrides) -> None:
    train(build_config(TrainConfig, {"data": data, "out": out, **FAST, **overrides}))


def tracker_after_steps(module: torch.nn.Module, steps: int = 3) -> PostHocEMA:
    tracker = PostHocEMA(module, (0.05, 0.1))
    gen = torch.Generator().manual_seed(0)
    for step in range(1, steps + 1):
        with torch.no_grad():
            for p in module.parameters():
                p.add_(torch.randn(p.shape, generator=gen))
        tracker.update(module, step)
    return tracker


@pytest.mark.parametrize(("precision", "rtol"), [("fp32", 0.0), ("fp16", 1e-3)])
def test_snapshot_round_trip(tiny_unet, tmp_path, precision, rtol) -> None:
    tracker = tracker_after_steps(tiny_unet)
    path = write_snapshot(ema_snapshot_file(tmp_path, 3), tracker, 3, precision)
    assert path.name == "step-0000003.safetensors" and list_snapshots(tmp_path) == {3: path}
    info = read_snapshot_info(path)
    assert (info.step, info.sigma_rels, info.precision) == (3, (0.05, 0.1), precision)
    for index, average in enumerate(tracker.averages):
        back = load_average(info, index)
        assert sorted(back) == sorted(tracker.names)
        for name, live in zip(tracker.names, average, strict=True):
            assert back[name].dtype == torch.float32
            torch.testing.assert_close(back[name], live, rtol=rtol, atol=rtol * 1e-2)
    # The data after the safetensors header: 4 (fp32) or 2 (fp16) bytes per parameter and profile.
    header_bytes = 8 + int.from_bytes(path.read_bytes()[:8], "little")
    n = sum(p.numel() for p in tiny_unet.parameters())
    assert path.stat().st_size - header_bytes == 2 * n * (4 if precision == "fp32" else 2)


def test_missing_truncated_and_foreign_snapshots_name_the_file(tiny_unet, tmp_path) -> None:
    path = write_snapshot(ema_snapshot_file(tmp_path, 2), tracker_after_steps(tiny_unet), 2, "fp32")
    data = path.read_bytes()
    with pytest.raises(RadsynthError, match=r"missing: .*step-0000004\.safetensors"):
        read_snapshot_info(ema_snapshot_file(tmp_path, 4))
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RadsynthError, match=r"corrupt post-hoc EMA snapshot .*step-0000002") as err:
        read_snapshot_info(path)
    assert "\n" not in str(err.value)
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, path)  # a safetensors file, but no snapshot
    with pytest.raises(RadsynthError, match="corrupt post-hoc EMA snapshot"):
        read_snapshot_info(path)
    path.write_bytes(data)  # the right bytes under the wrong step's name
    path.rename(ema_snapshot_file(tmp_path, 6))
    with pytest.raises(RadsynthError, match="step or precision is off"):
        read_snapshot_info(ema_snapshot_file(tmp_path, 6))


def test_posthoc_run_resumes_to_the_same_weights(fake_ingest, tmp_path) -> None:
    common = {"total_steps": 6, "checkpoint_every_steps": 3, "ema_snapshot_every_steps": 2}
    run(fake_ingest, tmp_path / "straight", **common)
    run(fake_ingest, tmp_path / "split", **{**common, "total_steps": 3})
    run(fake_ingest, tmp_path / "split", **common, resume=True)
    a, b = tmp_path / "straight", tmp_path / "split"
    assert sorted(list_snapshots(a)) == [2, 4, 6]
    assert sorted(list_snapshots(b)) == [2, 3, 4, 6]  # 3: the last step of the first leg
    for step in (2, 4, 6):
        assert sha256_file(list_snapshots(a)[step]) == sha256_file(list_snapshots(b)[step]), step
    ca, cb = list_checkpoints(a)[-1], list_checkpoints(b)[-1]
    for name in ("model.safetensors", "ema.safetensors"):
        assert sha256_file(ca / name) == sha256_file(cb / name), name
    sa, sb = load_training_state(ca)[STATE_KEY], load_training_state(cb)[STATE_KEY]
    assert sorted(sa) == sorted(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    # The last snapshot (fp32) is the live average; the two profiles are different averages.
    final = load_average(read_snapshot_info(list_snapshots(a)[6]), 0)
    name = next(iter(final))
    assert torch.equal(sa[f"0.{name}"], final[name])
    assert not torch.equal(sa[f"0.{name}"], sa[f"1.{name}"])


def test_classic_run_writes_no_snapshots_and_no_posthoc_state(fake_ingest, tmp_path) -> None:
    run(fake_ingest, tmp_path / "classic", ema="classic", total_steps=2)
    assert list_snapshots(tmp_path / "classic") == {}
    assert STATE_KEY not in load_training_state(list_checkpoints(tmp_path / "classic")[-1])
    saved = json.loads((tmp_path / "classic" / "config.json").read_text())
    assert saved["ema"] == "classic"


def test_a_run_from_before_posthoc_ema_still_resumes(fake_ingest, tmp_path) -> None:
    out = tmp_path / "old"
    run(fake_ingest, out, ema="classic", total_steps=2)
    for path in (out / "config.json", list_checkpoints(out)[-1] / "config.json"):
        meta = json.loads(path.read_text())
        config = meta.get("train", meta)
        for key in ("ema", "ema_sigma_rel", "ema_snapshot_every_steps", "ema_snapshot_precision"):
            config.pop(key)
        path.write_text(json.dumps(meta))
    run(fake_ingest, out, ema="classic", total_steps=4, resume=True)
    assert [p.name for p in list_checkpoints(out)][-1] == "step-0000004"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ema_sigma_rel": (0.05, 0.3)}, "ema_sigma_rel"),
        ({"ema_sigma_rel": (0.1, 0.1)}, "distinct"),
        ({"ema_snapshot_every_steps": 0}, "ema_snapshot_every_steps"),
    ],
)
def test_bad_posthoc_settings_are_refused(tmp_path, overrides, message) -> None:
    with pytest.raises((ValueError, RadsynthError), match=message):
        build_config(TrainConfig, {"data": tmp_path, "out": tmp_path / "o", **FAST, **overrides})


def test_pipeline_cache_key_of_a_classic_run_is_unchanged(tmp_path) -> None:
    """Run folders made before post-hoc EMA stay cached under the classic EMA, whatever the
    (then inert) snapshot settings; a --ema posthoc run is a new config."""
    from radsynth.pipeline.history import earlier_config_json

    base = {"data": tmp_path, "out": tmp_path / "o", "preset": "demo"}
    classic = build_config(TrainConfig, {**base, "ema_snapshot_every_steps": 7})
    earlier = json.loads(earlier_config_json(classic))
    assert not any(k == "ema" or k.startswith("ema_s") for k in earlier)
    assert earlier["ema_decay"] == 0.99
    assert earlier_config_json(build_config(TrainConfig, {**base, "ema": "posthoc"})) is None
