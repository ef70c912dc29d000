"""Stage configs: frozen dataclasses whose fields are both CLI flags and YAML/JSON keys.

Every stage declares one frozen dataclass. Each field is made with :func:`arg`, which carries
the help text shown by ``--help``. The CLI maps flags one-to-one onto fields, a ``--config FILE``
may set any field, and the precedence is: field default < preset < config file < command line.

A config class may declare ``PRESETS: ClassVar[dict[str, dict[str, Any]]]`` together with a
``preset`` field; the chosen preset's values then override the field defaults. It may also declare
``ALIASES: ClassVar[tuple[Alias, ...]]``: deprecated keys (and flags) kept for one release, each
mapped onto a field with a one-line warning (e.g. ``--cpu`` -> ``--device cpu``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from radsynth.errors import RadsynthError
from radsynth.io import read_yaml

C = TypeVar("C")
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Alias:
    """A deprecated config key (and CLI flag) that sets another field, kept for one release.

    Attributes:
        old: the deprecated key, e.g. ``cpu`` (flag ``--cpu``).
        new: the field it sets, e.g. ``device``.
        kind: the old key's value type (``bool`` makes ``--cpu``/``--no-cpu``).
        to_new: maps the old key's value to the new field's value; None sets nothing.
        help: the flag's help text, also the warning's: "deprecated alias of --device cpu".
    """

    old: str
    new: str
    kind: type
    to_new: Callable[[Any], Any]
    help: str


def _cpu_to_device(on: bool) -> str | None:
    return "cpu" if on else None


#: ``--cpu``: the deprecated spelling of ``--device cpu`` (``--no-cpu`` sets nothing).
CPU_ALIAS = Alias("cpu", "device", bool, _cpu_to_device, "deprecated alias of --device cpu")


def aliases(cls: type) -> tuple[Alias, ...]:
    """The deprecated keys a config class still accepts."""
    return tuple(getattr(cls, "ALIASES", ()))


def config_keys(cls: type) -> list[str]:
    """Every key a config file may set for ``cls``: its fields, then its deprecated aliases."""
    return [f.name for f in dataclasses.fields(cls)] + [a.old for a in aliases(cls)]


def _apply_aliases(cls: type, layers: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """The layers with each deprecated key replaced by the field it sets (one warning each).

    Raises:
        RadsynthError: a deprecated key and the field it stands for are both given.
    """
    out = [dict(layer) for layer in layers]
    for alias in aliases(cls):
        given = [layer for layer in out if alias.old in layer]
        if not given:
            continue
        old, new = alias.old.replace("_", "-"), alias.new.replace("_", "-")
        if any(alias.new in layer for layer in out):
            raise RadsynthError(f"give --{new} or the deprecated --{old}, not both")
        log.warning("--%s is a %s; it will be removed in the next release", old, alias.help)
        for layer in given:
            value = alias.to_new(convert_value(alias.old, alias.kind, layer.pop(alias.old)))
            if value is not None:
                layer[alias.new] = value
    return out


def arg(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    positional: bool = False,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """Declare a config field with its help text.

    Args:
        default: the default value; leave it out for a required field.
        help: one line for ``--help``; say the unit where there is one.
        positional: the field is a positional CLI argument (e.g. ``SRC OUT``).
        choices: allowed values, when the type is not a ``Literal``.
    """
    metadata = {"help": help, "positional": positional, "choices": choices}
    return dataclasses.field(default=default, metadata=metadata)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    """Return (inner type, is_optional) for ``X | None``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def field_choices(f: dataclasses.Field, tp: Any) -> tuple[Any, ...] | None:
    """Allowed values of a field, from ``Literal[...]`` or ``arg(choices=...)``."""
    inner, _ = _strip_optional(tp)
    if typing.get_origin(inner) is Literal:
        return typing.get_args(inner)
    return f.metadata.get("choices")


def convert_value(name: str, tp: Any, value: Any) -> Any:
    """Convert a raw CLI string or YAML value to the field's declared type.

    Raises:
        RadsynthError: when the value cannot be converted, with the field name in the message.
    """
    inner, optional = _strip_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "")):
        if optional:
            return None
        raise RadsynthError(f"'{name}' needs a value")
    origin = typing.get_origin(inner)
    try:
        if inner is bool:
            if isinstance(value, bool):
                return value
            text = str(value).lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if origin is Literal:
            allowed = typing.get_args(inner)
            kind = type(allowed[0])
            out = kind(value)
            if out not in allowed:
                raise RadsynthError(f"'{name}' must be one of {', '.join(map(str, allowed))}")
            return out
        if origin is tuple:
            item_types = typing.get_args(inner)
            item = item_types[0] if item_types else str
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            elif item in (int, float):  # numbers from the command line may be comma-separated
                value = [v for x in value for v in (x.split(",") if isinstance(x, str) else [x])]
            return tuple(convert_value(name, item, v) for v in value)
        if inner in (int, float, str, Path):
            if inner is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return inner(value)
    except (TypeError, ValueError):
        raise RadsynthError(f"'{name}' got {value!r}, which is not a valid {inner}") from None
    return value


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping of field names to values."""
    if not path.is_file():
        raise RadsynthError(f"config file not found: {path}")
    data = read_yaml(path, "config file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RadsynthError(f"config file {path} must hold a mapping of field names to values")
    return data


def build_config(cls: type[C], *layers: dict[str, Any]) -> C:
    """Build a frozen config from layered mappings; later layers win.

    A ``preset`` value found in any layer selects ``cls.PRESETS[preset]``, which is applied
    below all layers. A deprecated key (``cls.ALIASES``) sets its field with a warning. Unknown
    keys, a deprecated key given together with its field, bad values and missing required
    fields raise :class:`RadsynthError` with a one-line message.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    merged: dict[str, Any] = {}
    for layer in layers:
        unknown = sorted(set(layer) - set(config_keys(cls)))
        if unknown:
            raise RadsynthError(
                f"unknown config key(s) {', '.join(unknown)} for {cls.__name__}; "
                f"known keys: {', '.join(fields)}"
            )
    for layer in _apply_aliases(cls, layers):
        merged.update(layer)
    presets: dict[str, dict[str, Any]] = getattr(cls, "PRESETS", {}) or {}
    if "preset" in fields:
        preset = merged.get("preset", fields["preset"].default)
        if preset not in presets:
            raise RadsynthError(f"unknown preset {preset!r}; choose one of {', '.join(presets)}")
        merged = {**presets[preset], **merged, "preset": preset}
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in merged:
            value = convert_value(name, hints[name], merged[name])
            allowed = field_choices(f, hints[name])
            if allowed is not None and value is not None and value not in allowed:
                raise RadsynthError(f"'{name}' must be one of {', '.join(map(str, allowed))}")
            values[name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RadsynthError(f"missing required value '{name}'")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise RadsynthError(f"invalid {cls.__name__}: {exc}") from None


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config: paths become strings, tuples become lists."""

    def plain(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {f.name: plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def config_json(cfg: Any) -> str:
    """Stable JSON text of a config, for writing next to a stage's outputs and for hashing."""
    return json.dumps(config_to_dict(cfg), indent=2, sort_keys=True) + "\n"


def refuse_changed_config(
    saved: dict[str, Any], now: dict[str, Any], free: frozenset[str] = frozenset()
) -> None:
    """Refuse to resume a run whose saved config (``config_to_dict`` of the run that wrote the
    checkpoint) differs from ``now`` in a field outside ``free`` (those that may change between
    a run and its ``--resume`` without changing what is learned: device, threads, cadence...).

    Raises:
        RadsynthError: naming the first differing fields, in one line.
    """
    differ = sorted(
        k for k in set(now) | set(saved) if k not in free and saved.get(k) != now.get(k)
    )
    if differ:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in differ[:4])
        raise RadsynthError(f"cannot resume: config differs from the checkpoint's ({detail})")
