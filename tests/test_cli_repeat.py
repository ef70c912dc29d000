"""Repeated flags: a list flag given twice appends (never drops values), any other flag given
twice is refused with a one-line error. Checked on every field of every registered command."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from radsynth.cli import _subcommand_parser, main
from radsynth.config import _strip_optional, build_config, field_choices
from radsynth.pipeline.stages import COMMANDS, loader


def _leaves(tree: dict, prefix: str = "") -> Iterator[str]:
    for name, (_, target) in tree.items():
        path = f"{prefix} {name}".strip()
        if isinstance(target, dict):
            yield from _leaves(target, path)
        else:
            yield path


def _fields(kind: str) -> list[tuple[str, str]]:
    """(command, field) for every flag of every command: kind "list" or "single"."""
    out = []
    for command in _leaves(COMMANDS):
        cls, _ = loader(command)()
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.metadata.get("positional"):
                continue
            is_list = typing.get_origin(_strip_optional(hints[f.name])[0]) is tuple
            if is_list == (kind == "list"):
                out.append((command, f.name))
    return out


LIST_FLAGS = _fields("list")
SINGLE_FLAGS = _fields("single")


def test_every_command_was_inspected() -> None:
    commands = {c for c, _ in LIST_FLAGS} | {c for c, _ in SINGLE_FLAGS}
    assert commands == set(_leaves(COMMANDS))
    assert ("study create", "synthetic") in LIST_FLAGS
    assert ("sampler-sweep", "steps") in LIST_FLAGS


@pytest.mark.parametrize("command, name", LIST_FLAGS)
def test_repeated_list_flag_appends(command: str, name: str) -> None:
    cls, _ = loader(command)()
    flag = "--" + name.replace("_", "-")
    args = vars(_subcommand_parser(command, cls).parse_args([flag, "1", "2", flag, "3"]))
    assert args[name] == ["1", "2", "3"]


@pytest.mark.parametrize("command, name", SINGLE_FLAGS)
def test_repeated_single_flag_is_refused(command: str, name: str, capsys) -> None:
    cls, _ = loader(command)()
    hints = typing.get_type_hints(cls)
    flag = "--" + name.replace("_", "-")
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    choices = field_choices(f, hints[name])
    value = str(choices[0]) if choices else "1"
    if _strip_optional(hints[name])[0] is bool:
        argv = [flag, "--no-" + name.replace("_", "-")]
    else:
        argv = [flag, value, flag, value]
    with pytest.raises(SystemExit) as exc:
        _subcommand_parser(command, cls).parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"{flag}" in err and "given more than once" in err
    assert len(err.strip().splitlines()) == 1


def test_study_create_keeps_every_synthetic_set(tmp_path: Path) -> None:
    """The reported case: three --synthetic flags give a quartet study's three sets."""
    cls, _ = loader("study create")()
    argv = [str(tmp_path / "study"), "--real", "r", "--synthetic", "A=d1", "--synthetic",
            "B=d2", "--synthetic", "C=d3"]  # fmt: skip
    args = vars(_subcommand_parser("study create", cls).parse_args(argv))
    args.pop("config")
    cfg = build_config(cls, args)
    assert cfg.synthetic == ("A=d1", "B=d2", "C=d3")


def test_repeated_flag_through_main_is_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["phantoms", "out", "--n", "3", "--n", "4"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        "radsynth phantoms: error: --n given more than once (3, then 4); give it once\n"
    )
