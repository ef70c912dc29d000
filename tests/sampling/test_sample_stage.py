"""`radsynth sample` end to end on a tiny random checkpoint: files, determinism, resume, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sampling_reference import REFERENCE

from radsynth.cli import main
from radsynth.data.imageio import read_image


def pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def run_cli(*args: str) -> int:
    """The CLI's exit status (argparse exits by itself on a bad flag)."""
    try:
        return main(["sample", *map(str, args)])
    except SystemExit as exc:
        return int(exc.code)


def test_writes_seed_named_pngs_and_metadata(reference_samples: Path, tiny_ckpt: Path):
    out = reference_samples
    assert sorted(pngs(out)) == [f"{s:06d}.png" for s in range(6)]
    arr, bits = read_image(out / "000003.png")
    assert arr.shape == (32, 32) and bits == 8
    lines = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert [x["seed"] for x in lines] == list(range(6))
    assert {x["sampler"] for x in lines} == {"ddpm"} and {x["steps"] for x in lines} == {10}
    assert {x["weights"] for x in lines} == {"ema"}  # EMA by default
    shared = json.loads((out / "sampling.json").read_text())
    assert shared["checkpoint_step"] == 2
    assert shared["model"]["block_channels"] == [8, 16]
    assert shared["weights_sha256"] == lines[0]["weights_sha256"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["stage"] == "sample"
    assert any(i["path"].endswith("ema.safetensors") for i in manifest["inputs"])


def test_batch_size_does_not_change_images(reference_samples: Path, tmp_path: Path, tiny_ckpt):
    out = tmp_path / "b1"
    assert run_cli(tiny_ckpt, out, "--n", "3", "--batch", "1", *REFERENCE) == 0
    ref = pngs(reference_samples)
    assert pngs(out) == {k: ref[k] for k in ("000000.png", "000001.png", "000002.png")}


def test_image_depends_only_on_its_seed(reference_samples: Path, tmp_path: Path, tiny_ckpt):
    out = tmp_path / "later-seeds"
    assert run_cli(tiny_ckpt, out, "--n", "2", "--seed-start", "4", "--batch", "2", *REFERENCE) == 0
    ref = pngs(reference_samples)
    assert pngs(out) == {"000004.png": ref["000004.png"], "000005.png": ref["000005.png"]}
    assert ref["000004.png"] != ref["000005.png"]


def test_same_command_again_resumes_and_never_mixes(tiny_ckpt: Path, tmp_path: Path, capsys):
    out = tmp_path / "s"
    common = [tiny_ckpt, out, "--batch", "2", "--no-progress"]
    setup = {"--sampler": "dpmpp", "--steps": "3", "--weights": "ema", "--n": "2"}

    def run(**changes: str) -> int:
        flags = {**setup, **{f"--{k}": v for k, v in changes.items()}}
        return run_cli(*common, *[x for kv in flags.items() for x in kv])

    assert run() == 0
    first = (out / "000000.png").stat().st_mtime_ns
    assert run(n="3") == 0
    assert (out / "000000.png").stat().st_mtime_ns == first  # finished seeds are skipped
    assert len(pngs(out)) == 3
    assert len((out / "samples.jsonl").read_text().splitlines()) == 3
    capsys.readouterr()
    for change in ({"steps": "4"}, {"sampler": "ddim"}, {"weights": "online"}):
        assert run(n="4", **change) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "another setup" in err, err
    assert len(pngs(out)) == 3  # nothing was added or overwritten


def test_online_weights_give_other_images(reference_samples: Path, tmp_path: Path, tiny_ckpt):
    out = tmp_path / "online"
    assert run_cli(tiny_ckpt, out, "--n", "1", "--weights", "online", *REFERENCE) == 0
    assert pngs(out)["000000.png"] != pngs(reference_samples)["000000.png"]


def test_sixteen_bit_output_is_rounded_like_the_eight_bit(tiny_ckpt: Path, tmp_path: Path):
    args = ["--n", "1", "--sampler", "dpmpp", "--steps", "3", "--no-progress"]
    assert run_cli(tiny_ckpt, tmp_path / "b8", *args) == 0
    assert run_cli(tiny_ckpt, tmp_path / "b16", *args, "--bits", "16") == 0
    with Image.open(tmp_path / "b16" / "000000.png") as img:
        assert img.mode.startswith("I;16")
    v16, bits = read_image(tmp_path / "b16" / "000000.png")
    assert bits == 16
    u8 = np.asarray(Image.open(tmp_path / "b8" / "000000.png"), dtype=np.int64)
    interior = (v16 > 0.01) & (v16 < 0.99)
    rounded, truncated = np.rint(v16 * 255), np.floor(v16 * 255)
    assert interior.sum() > 100
    assert np.mean(u8[interior] == rounded[interior]) > 0.99
    assert np.mean(u8[interior] == truncated[interior]) < 0.8  # truncation would match ~100%


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n", "0"], "--n must be at least 1"),
        (["--sampler", "plms"], "invalid choice: 'plms'"),
        (["--steps", "101"], "steps must be between 1 and 100"),
    ],
)
def test_bad_arguments_are_one_line_errors(tiny_ckpt, tmp_path, capsys, args, message):
    assert run_cli(tiny_ckpt, tmp_path / "o", *args, "--no-progress") == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not any((tmp_path / "o").glob("*.png"))


def test_missing_or_corrupt_checkpoint_is_a_one_line_error(tiny_ckpt, tmp_path, capsys):
    assert run_cli(tmp_path / "nothing", tmp_path / "o1") == 2
    assert "checkpoint not found" in capsys.readouterr().err
    broken = tmp_path / "broken" / "checkpoints" / tiny_ckpt.name
    broken.mkdir(parents=True)
    for f in tiny_ckpt.iterdir():
        data = f.read_bytes()
        (broken / f.name).write_bytes(
            data[: len(data) // 2] if f.name == "ema.safetensors" else data
        )
    assert run_cli(broken, tmp_path / "o2", "--no-progress") == 2
    err = capsys.readouterr().err
    assert "corrupt" in err and err.count("\n") == 1, err


def test_kill_9_leaves_no_partial_png_and_rerun_completes(reference_samples, tiny_ckpt, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "radsynth.cli", "sample", str(tiny_ckpt), str(out), "--n", "6"]
    cmd += ["--batch", "1", *REFERENCE]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while len(list(out.glob("[0-9]*.png"))) < 2 and time.monotonic() < deadline:
        assert proc.poll() is None, "sampling ended before it could be killed"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = sorted(out.glob("[0-9]*.png"))
    assert 2 <= len(written) < 6
    for path in written:  # every visible PNG decodes in full: none is truncated
        with Image.open(path) as img:
            img.load()
    assert run_cli(tiny_ckpt, out, "--n", "6", "--batch", "3", *REFERENCE) == 0
    assert pngs(out) == pngs(reference_samples)
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_two_processes_split_seeds_and_write_each_once(reference_samples, tiny_ckpt, tmp_path):
    """Two CPU ranks under torchrun (gloo): rank r takes seeds r, r+2, ...; same images."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out, cfg = tmp_path / "two", tmp_path / "cfg.yaml"
    cfg.write_text("n: 6\nbatch: 2\nsampler: ddpm\nsteps: 10\nprogress: false\n")
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc_per_node", "2", "--master_port", str(port), "-m"]
    cmd += ["radsynth.cli", "sample", str(tiny_ckpt), str(out), "--config", str(cfg)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=300)
    assert pngs(out) == pngs(reference_samples)
    lines = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert [x["seed"] for x in lines] == list(range(6))
    assert [x["process_index"] for x in lines] == [0, 1, 0, 1, 0, 1]
    assert {x["processes"] for x in lines} == {2}
