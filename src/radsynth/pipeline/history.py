"""How the previous release wrote a stage's config, so that run folders it made stay cached.

A step's cache key hashes its config's JSON (:func:`radsynth.pipeline.steps.step_key`). This
release added fields to some configs and renamed one, which changes that JSON even where the
stage does exactly what it did before. Without this module, opening a run folder made by the
previous release would re-ingest, retrain and re-create the reader study (moving its answers
aside). Here each change is written down once: a config that holds the value meaning "as
before" is also keyed the way the previous release keyed it, and a folder recorded under that
key stays in use.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from radsynth.config import config_json

#: Fields added in this release, with the value that means "as before" (as JSON values). A
#: config holding that value was keyed without the field.
ADDED: dict[str, dict[str, Any]] = {
    "IngestConfig": {"review_decisions": None},
    "CreateStudyConfig": {
        "finding_per_class": False,
        "class_finding": [],
        "real_manifest": None,
        "label_columns": ["label"],
        "synthetic_meta": [],
    },
    "SimulateConfig": {"p_finding_real": 0.85, "p_finding_synthetic": 0.7},
    "UtilityConfig": {"device": "auto"},
    "OrientConfig": {"mirror_model": None},
    "ScreenConfig": {"frr_confidence": None},
    "TrainConfig": {"ema": "classic"},
    "SampleConfig": {"truncation_psi": None},
}

#: Added fields that do nothing while another field holds a value: (field, value), then the
#: fields dropped from the earlier JSON whatever they hold. Train's post-hoc EMA settings act
#: only under ``--ema posthoc`` (and their defaults differ between presets).
INERT_WHEN: dict[str, tuple[tuple[str, Any], tuple[str, ...]]] = {
    "TrainConfig": (
        ("ema", "classic"),
        ("ema_sigma_rel", "ema_snapshot_every_steps", "ema_snapshot_precision"),
    ),
}

#: Fields added since the last release, with the value that means "as before": a config of
#: the last release was keyed without them (:func:`last_release_config_json`). The tables above
#: take it on to the release before (:func:`earlier_config_json`).
ADDED_SINCE_LAST: dict[str, dict[str, Any]] = {
    "TrainConfig": {
        "autoencoder": None,
        "grad_accum_steps": 1,
        "gradient_checkpointing": False,
        "init_from": None,
        "prompt": "a chest x-ray",
        "lora_rank": 0,
        "compile_mode": "default",
        "optimizer_impl": "auto",
        "data_on_device": "auto",
        "lr_scale": "sqrt",
    },
    "UtilityConfig": {"synthetic_sets": [], "synthetic_sets_meta": []},
}

#: Fields added since the last release that mean "as before" while they equal another field:
#: train's lr batch rule gives the lr as given when the batch is its reference batch.
SAME_AS: dict[str, dict[str, str]] = {"TrainConfig": {"lr_reference_batch": "batch_size"}}

#: Fields that must hold these values for a config to have been keyed the earlier way: the
#: stage's output for other values differs from the previous release's. Orient's frontal path
#: now uses the learned mirror network; its lateral path is unchanged.
ONLY_WHEN: dict[str, dict[str, Any]] = {"OrientConfig": {"view": "lateral"}}

#: Fields renamed or given a new default: (field, value now) -> (field then, value then).
CHANGED: dict[str, dict[tuple[str, Any], tuple[str, Any]]] = {
    # train's --cpu became --device; auto picked CUDA when present, as cpu=False did.
    "TrainConfig": {("device", "auto"): ("cpu", False), ("device", "cpu"): ("cpu", True)},
    # the audit's default device was cpu; auto is cpu on a machine without CUDA.
    "AuditConfig": {("device", "auto"): ("device", "cpu")},
    # no ratios named means the four standard ones, each where the synthetic set suffices.
    "UtilityConfig": {("ratios", ()): ("ratios", [0.5, 1.0, 2.0, 4.0])},
    # sample's diffusion settings default to None ("not given") so a GAN checkpoint can refuse
    # them; None means the previous default.
    "SampleConfig": {
        ("sampler", None): ("sampler", "dpmpp"),
        ("steps", None): ("steps", 25),
        ("spacing", None): ("spacing", "auto"),
        ("eta", None): ("eta", 0.0),
        ("clip_x0", None): ("clip_x0", True),
        ("progress", None): ("progress", True),  # None: a bar on a terminal, as True was
    },
    "FidSweepConfig": {("sampler", None): ("sampler", "dpmpp"), ("steps", None): ("steps", 25)},
}


def _without(data: dict[str, Any], added: dict[str, Any]) -> dict[str, Any] | None:
    """``data`` without the added fields that hold their as-before value; None when one holds
    a new value (no earlier release could have written it)."""
    data = dict(data)
    for field, before in added.items():
        if field in data:
            if data[field] != before:
                return None
            del data[field]
    return data


def _last_release_data(cfg: Any) -> dict[str, Any] | None:
    """``cfg`` as the last release's JSON held it (a dict), or None when it could not have."""
    name = type(cfg).__name__
    data = json.loads(config_json(cfg))
    for field, other in SAME_AS.get(name, {}).items():
        if field in data:
            if data[field] != data.get(other):
                return None
            del data[field]
    return _without(data, ADDED_SINCE_LAST.get(name, {}))


def _text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def last_release_config_json(cfg: Any) -> str | None:
    """The JSON the last release would have hashed for ``cfg``, or None when it is the same as
    today's or the last release could not have written this config."""
    if not dataclasses.is_dataclass(cfg):
        return None
    data = _last_release_data(cfg)
    if data is None or _text(data) == config_json(cfg):
        return None
    return _text(data)


def earlier_config_json(cfg: Any) -> str | None:
    """The JSON the release before the last would have hashed for ``cfg`` (the last release's,
    taken back through :data:`ADDED`, :data:`CHANGED` ...), or None when it is the same as
    today's or that release could not have written this config (a new field set to a new
    value)."""
    if not dataclasses.is_dataclass(cfg):
        return None
    name = type(cfg).__name__
    added, changed = ADDED.get(name, {}), CHANGED.get(name, {})
    data = _last_release_data(cfg)
    if data is None or not added and not changed:
        return None
    if any(data.get(f) != v for f, v in ONLY_WHEN.get(name, {}).items()):
        return None
    if name in INERT_WHEN and data.get(INERT_WHEN[name][0][0]) == INERT_WHEN[name][0][1]:
        for field in INERT_WHEN[name][1]:
            data.pop(field, None)
    data = _without(data, added)
    if data is None:
        return None
    for (field, now), (then_field, then) in changed.items():
        if field in data and data[field] == (list(now) if isinstance(now, tuple) else now):
            del data[field]
            data[then_field] = then
    return _text(data)
