"""One device choice: every stage that runs torch takes ``--device auto|cpu|cuda|cuda:N``
(default auto), and the deprecated ``--cpu`` still means ``--device cpu`` with a warning."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from radsynth.cli import _subcommand_parser, main
from radsynth.config import build_config, config_keys
from radsynth.errors import RadsynthError
from radsynth.pipeline.stages import loader

#: Every subcommand whose stage runs torch.
TORCH_STAGES = ("train", "sample", "fid-sweep", "sampler-sweep", "fid", "audit", "utility",
                "bench train", "bench sample", "bench gpu")  # fmt: skip
#: The subcommands that had a ``--cpu`` flag before ``--device`` (kept for one release).
HAD_CPU_FLAG = ("train", "bench train", "bench sample")


@pytest.mark.parametrize("command", TORCH_STAGES)
def test_every_torch_stage_takes_device_auto_by_default(command: str) -> None:
    cls, _ = loader(command)()
    field = {f.name: f for f in dataclasses.fields(cls)}.get("device")
    assert field is not None, f"{command} has no device field"
    assert field.default == "auto"


def _parse(command: str, argv: list[str]):
    cls, _ = loader(command)()
    args = vars(_subcommand_parser(f"radsynth {command}", cls).parse_args(argv))
    args.pop("config")
    return cls, args


@pytest.mark.parametrize("command", HAD_CPU_FLAG)
def test_cpu_flag_maps_to_device_cpu_with_one_warning(command: str, caplog) -> None:
    cls, args = _parse(command, ["--cpu"])
    with caplog.at_level(logging.WARNING, logger="radsynth"):
        cfg = build_config(cls, {"data": ".", "out": "."} if command == "train" else {}, args)
    assert cfg.device == "cpu"
    (record,) = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert record.getMessage() == (
        "--cpu is a deprecated alias of --device cpu; it will be removed in the next release"
    )
    assert "cpu" in config_keys(cls) and "cpu" not in {f.name for f in dataclasses.fields(cls)}


def test_no_cpu_sets_nothing_and_a_config_file_may_still_say_cpu(caplog) -> None:
    cls, args = _parse("bench train", ["--no-cpu"])
    assert build_config(cls, args).device == "auto"
    with caplog.at_level(logging.WARNING, logger="radsynth"):
        cfg = build_config(cls, {"cpu": "yes"})  # a YAML file written for the old flag
    assert cfg.device == "cpu" and "deprecated" in caplog.text


def test_cpu_and_device_together_are_a_one_line_error(capsys) -> None:
    cls, args = _parse("bench sample", ["--cpu", "--device", "cpu"])
    with pytest.raises(RadsynthError, match="give --device or the deprecated --cpu, not both"):
        build_config(cls, args)
    # Across layers too: the file says cpu, the command line names a device.
    with pytest.raises(RadsynthError, match="not both"):
        build_config(cls, {"cpu": True}, {"device": "cpu"})
    assert main(["bench", "train", "--cpu", "--device", "cpu", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        "radsynth bench train: error: give --device or the deprecated --cpu, not both"
    )


def test_a_stage_without_the_old_flag_refuses_it(capsys) -> None:
    with pytest.raises(SystemExit):
        _parse("audit", ["--cpu"])
    assert "unrecognized arguments: --cpu" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["bench", "train"], ["utility", "data", "out"],
                                  ["sample", "ckpt", "out"]])  # fmt: skip
def test_a_bad_device_name_is_one_line_before_any_work(argv: list[str], tmp_path, capsys) -> None:
    argv = [a if a in ("bench", "train", "utility", "sample") else str(tmp_path / a) for a in argv]
    assert main([*argv, "--device", "gpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("device must be auto, cpu, cuda or cuda:N, got 'gpu'")
    assert not list(tmp_path.iterdir())
