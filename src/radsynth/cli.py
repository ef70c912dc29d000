"""The ``radsynth`` command line: one subcommand per pipeline stage, thin over typed functions.

Each subcommand parses flags into the stage's frozen config dataclass (see
:mod:`radsynth.config`) and calls the stage function. Stage modules are imported only when their
subcommand runs, so ``radsynth --help`` and the reader-study server start without torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from radsynth import __version__
from radsynth.config import (
    _strip_optional,
    aliases,
    build_config,
    field_choices,
    load_config_file,
)
from radsynth.errors import RadsynthError
from radsynth.hardware.threads import prepare_cpu_runtime
from radsynth.pipeline.stages import command_tree


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a wrong flag as one line and exit status 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _refuse_repeat(
    parser: argparse.ArgumentParser,
    namespace: argparse.Namespace,
    action,
    option: str | None,
    values: Any,
) -> None:
    """Stop when a single-valued flag was already given: taking the last would drop a value."""
    if hasattr(namespace, action.dest):  # defaults are SUPPRESSed: set only by a flag
        before = getattr(namespace, action.dest)
        flag = "/".join(action.option_strings)  # --x, or --x/--no-x for a boolean
        parser.error(f"{flag} given more than once ({before}, then {values}); give it once")


class _StoreOnce(argparse.Action):
    """Store a flag's value; a second occurrence of the flag is an error, never a silent win."""

    def __call__(self, parser, namespace, values, option_string=None):
        _refuse_repeat(parser, namespace, self, option_string, values)
        setattr(namespace, self.dest, values)


class _BoolOnce(argparse.BooleanOptionalAction):
    """``--x`` / ``--no-x``, given at most once between them."""

    def __call__(self, parser, namespace, values, option_string=None):
        value = not (option_string or "").startswith("--no-")
        _refuse_repeat(parser, namespace, self, option_string, value)
        super().__call__(parser, namespace, values, option_string)


def add_config_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one flag (or positional) per field of a config dataclass; no defaults are set here,
    so that only flags given on the command line override the config file and presets.

    A list flag (a tuple field) may be repeated and its values append (``--synthetic A=x
    --synthetic B=y`` is ``--synthetic A=x B=y``); any other flag given twice is refused with a
    one-line error, since silently keeping the last value would drop the first.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, _ = _strip_optional(hints[f.name])
        help_text = f.metadata.get("help", "")
        if f.default is dataclasses.MISSING:
            help_text += " (required)"
        elif f.default is not None:
            help_text += f" (default: {f.default})"
        help_text = help_text.replace("%", "%%")  # argparse %-formats help ("95% CI")
        choices = field_choices(f, hints[f.name])
        if f.metadata.get("positional"):
            parser.add_argument(f.name, nargs="?", default=argparse.SUPPRESS, help=help_text)
            continue
        flag = "--" + f.name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if tp is bool:
            parser.add_argument(flag, action=_BoolOnce, **kwargs)
        elif typing.get_origin(tp) is tuple:
            kwargs["help"] += "; repeat the flag to add more"
            parser.add_argument(flag, nargs="+", action="extend", metavar="V", **kwargs)
        else:
            if choices:
                kwargs["choices"] = [str(c) for c in choices]
            metavar = f.name.upper() if not choices else None
            parser.add_argument(flag, action=_StoreOnce, metavar=metavar, **kwargs)
    for alias in aliases(cls):  # deprecated flags, mapped onto their fields by build_config
        flag = "--" + alias.old.replace("_", "-")
        kwargs = {"dest": alias.old, "default": argparse.SUPPRESS, "help": alias.help}
        if alias.kind is bool:
            parser.add_argument(flag, action=_BoolOnce, **kwargs)
        else:
            parser.add_argument(flag, action=_StoreOnce, metavar=alias.old.upper(), **kwargs)


def _build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="radsynth",
        description="Synthetic radiographs: train, sample, screen, audit, reader study, stats.",
    )
    parser.add_argument("--version", action="version", version=f"radsynth {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    _add_tree(parser, command_tree(), "radsynth")
    return parser


def _add_tree(parser: argparse.ArgumentParser, tree: dict[str, tuple[str, Any]], prog: str) -> None:
    subs = parser.add_subparsers(dest=f"cmd_{prog.count(' ')}", metavar="COMMAND", required=True)
    for name, (help_text, target) in tree.items():
        if isinstance(target, dict):
            sub = subs.add_parser(name, help=help_text, description=help_text)
            _add_tree(sub, target, f"{prog} {name}")
        else:
            # A leaf passes --help on to the stage's own parser, which knows its fields.
            sub = subs.add_parser(name, help=help_text, add_help=False)
            sub.set_defaults(_loader=target, _name=f"{prog} {name}")


def _subcommand_parser(name: str, cls: type) -> argparse.ArgumentParser:
    parser = _OneLineParser(prog=name, description=(cls.__doc__ or "").strip().splitlines()[0])
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML or JSON file setting any of the fields"
    )
    add_config_arguments(parser, cls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``radsynth`` command. Returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prepare_cpu_runtime()  # before any stage imports torch
    top = _build_parser()
    # First pass: find the subcommand; its own flags are parsed once its config class is known.
    known, rest = top.parse_known_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if known.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    name = known._name
    try:
        cls, stage = known._loader()
        parser = _subcommand_parser(name, cls)
        cli_args = vars(parser.parse_args(rest))
        config_file = cli_args.pop("config")
        file_values = load_config_file(config_file) if config_file else {}
        cfg = build_config(cls, file_values, cli_args)
        result = stage(cfg)
    except RadsynthError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    summary = getattr(result, "summary", None)
    if summary:
        print(f"{name.removeprefix('radsynth ')}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
