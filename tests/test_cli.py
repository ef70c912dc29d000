"""The CLI skeleton: help, one-line errors, config layering."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from radsynth.cli import main
from radsynth.config import arg, build_config
from radsynth.errors import RadsynthError
from radsynth.pipeline.stages import COMMANDS, STAGES


@dataclasses.dataclass(frozen=True)
class _Cfg:
    """A toy config."""

    PRESETS: ClassVar[dict] = {"a": {"size": 8}, "b": {"size": 16, "mode": "pad"}}
    out: Path = arg(help="output", positional=True)
    preset: str = arg("a", help="preset")
    size: int = arg(4, help="px")
    mode: Literal["pad", "stretch"] = arg("stretch", help="resize")
    sizes: tuple[int, ...] = arg((1, 2), help="list")


def test_layers_preset_file_flags() -> None:
    cfg = build_config(_Cfg, {"out": "x", "preset": "b"}, {"size": "32"})
    assert cfg == _Cfg(out=Path("x"), preset="b", size=32, mode="pad")
    assert build_config(_Cfg, {"out": "x", "sizes": "3,4"}).sizes == (3, 4)


@pytest.mark.parametrize(
    "layer, message",
    [
        ({"out": "x", "bogus": 1}, "unknown config key"),
        ({"out": "x", "size": "big"}, "not a valid"),
        ({"out": "x", "mode": "crop"}, "must be one of"),
        ({"out": "x", "preset": "z"}, "unknown preset"),
        ({}, "missing required value 'out'"),
    ],
)
def test_bad_config_is_one_line_error(layer: dict, message: str) -> None:
    with pytest.raises(RadsynthError, match=message):
        build_config(_Cfg, layer)


def test_help_lists_every_stage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for name in COMMANDS:
        assert name in text


def test_unknown_subcommand_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "invalid choice" in err


@pytest.mark.parametrize(
    "command", [row.command for row in STAGES if row.cli], ids=lambda c: c.replace(" ", "-")
)
def test_every_subcommand_prints_its_help(command: str, capsys) -> None:
    # argparse %-formats help text: a bare "95% CI" in a field's help crashed --help.
    with pytest.raises(SystemExit) as exc:
        main([*command.split(), "--help"])
    assert exc.value.code == 0 and "usage: radsynth" in capsys.readouterr().out
