"""The dataset card: ``README.md`` in the Hugging Face dataset-card layout.

A YAML header (between ``---`` lines) carries the machine-readable fields the Hub reads
(``license``, ``pretty_name``, ``tags``, ``size_categories``); the Markdown body follows the
Hub's dataset-card template (Gebru et al., "Datasheets for Datasets", CACM 2021; Mitchell et
al., "Model Cards for Model Reporting", FAT* 2019): how the data were made, what is in it, how it
was checked, licence and attribution, intended use and limitations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from radsynth.fates.records import TABLE_S1_COLUMNS
from radsynth.records.curves import FidRow
from radsynth.records.stats import StatsRecord

#: SPDX identifiers -> the Hub's licence ids (the Hub lower-cases SPDX for these).
HUB_LICENCES = frozenset(
    {
        "cc-by-4.0",
        "cc-by-sa-4.0",
        "cc-by-nc-4.0",
        "cc-by-nc-sa-4.0",
        "cc0-1.0",
        "apache-2.0",
        "mit",
        "odc-by",
        "pddl",
        "cdla-permissive-2.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-4.0",
    }
)


@dataclass(frozen=True)
class CardFacts:
    """Everything the card states, gathered by the release stage."""

    name: str  # dataset name
    version: str  # release version
    licence: str  # SPDX id of the release's licence
    source_licence: str  # licence of the training data
    attribution: str  # attribution of the training data ("" when none was given)
    n_images: int
    size_px: tuple[int, int]  # (height, width) of the released images
    bits: int  # PNG bit depth
    table: Sequence[Mapping[str, Any]]  # Table S1 rows, total last
    checkpoints: Sequence[Mapping[str, Any]]  # checkpoint, step, sha256, sampler, steps
    model: Mapping[str, Any]  # model and diffusion config (sampling.json)
    training_steps: int | None  # total training steps of the run
    n_train: int | None  # training images
    n_val: int | None  # held-out real images
    trained_px: int | None  # ingest size (images were resampled to it)
    phantoms: bool  # the training images were radsynth's phantoms, not patients
    keep: str  # "screened" | "all"
    oriented: bool  # images were flipped to one canonical side
    screen: Mapping[str, Any]  # threshold.json
    fid: Sequence[tuple[str, FidRow]]  # (set name, its fid.csv row) of each released set
    audit: Mapping[str, Any]  # calibration.json plus released counts
    study: StatsRecord | None  # stats.json, when a reader study ran
    formats: Sequence[str] = field(default_factory=tuple)  # extra formats: "shards", "dicom"
    n_screen_flagged: int = 0  # released images the screen flagged (keep "all", or overridden)


def hub_licence(spdx: str) -> str:
    """The Hub's ``license`` value for an SPDX id (``other`` when the Hub has no id for it)."""
    low = spdx.lower()
    return low if low in HUB_LICENCES else "other"


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` images."""
    for bound, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < bound:
            return label
    return "1M<n<10M"


def _header(f: CardFacts) -> str:
    data: dict[str, Any] = {
        "pretty_name": f.name,
        "license": hub_licence(f.licence),
        "tags": ["synthetic", "medical-imaging", "radiography", "diffusion-model"]
        + (["phantom"] if f.phantoms else []),
        "size_categories": [size_category(f.n_images)],
        "task_categories": ["image-classification", "unconditional-image-generation"],
    }
    if data["license"] == "other":
        data["license_name"] = f.licence
    return "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + "---\n"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def _num(value: Any, digits: int = 3) -> str:
    """A number to ``digits`` decimals; n/a for a missing one (None, NaN, not a number)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(number) else f"{number:.{digits}f}"


def _pct(fraction: Any) -> str:
    """A 0-1 fraction as a percentage ("5 %"), or n/a."""
    try:
        return f"{100 * float(fraction):g} %"
    except (TypeError, ValueError):
        return "n/a"


def _provenance_notice(f: CardFacts) -> list[str]:
    notes = []
    if f.phantoms:
        notes.append(
            "**These images come from phantoms, not from patients.** The model was "
            "trained on procedural radiograph phantoms drawn by radsynth; no patient "
            "image or record was used."
        )
    if f.study and f.study.simulated:
        notes.append(
            "**The readers were simulated.** The reader-study result below comes from "
            "simulated raters, not from people, and says nothing about how real "
            "readers would judge these images."
        )
    return [*(f"> {n}\n" for n in notes)]


def _how_made(f: CardFacts) -> list[str]:
    model = f.model.get("model") or {}
    diffusion = f.model.get("diffusion") or {}
    data = "radsynth phantoms" if f.phantoms else "real radiographs"
    lines = ["## How the images were made", ""]
    lines.append(
        f"- **Model**: a denoising diffusion model (DDPM, Ho et al. 2020) with a UNet of channels "
        f"{model.get('block_channels', 'n/a')} at {model.get('image_size_px', 'n/a')} px, "
        f"{diffusion.get('num_train_timesteps', 'n/a')} diffusion steps, "
        f"{diffusion.get('beta_schedule', 'n/a')} noise schedule, "
        f"prediction type {diffusion.get('prediction_type', 'n/a')}."
    )
    lines.append(
        f"- **Training data**: {f.n_train if f.n_train is not None else 'n/a'} {data} "
        f"({f.n_val if f.n_val is not None else 'n/a'} more held out), resampled to "
        f"{f.trained_px or 'n/a'} px."
    )
    if f.training_steps:
        lines.append(f"- **Training**: {f.training_steps:,} steps.")
    lines.append("- **Sampling**, per checkpoint:")
    for c in f.checkpoints:
        lines.append(
            f"  - `{c['checkpoint']}` (step {c['step']}): {c['sampler']}, "
            f"{c['steps']} steps; weights sha256 `{c['sha256']}`"
        )
    lines.append(
        "- **Screening**: each image got an anatomical implausibility score, with a threshold "
        f"calibrated to flag {_pct(f.screen.get('frr_target'))} of "
        f"{f.screen.get('n_reference', 'n/a')} held-out real images; reviewers could override "
        "the flags on the review page."
    )
    if f.oriented:
        lines.append(
            "- **Orientation**: every image was mirrored where needed to face one "
            "canonical side (`orientation_flipped` in metadata.csv)."
        )
    return [*lines, ""]


def _table_s1(f: CardFacts) -> list[str]:
    header = [
        "Checkpoint",
        "Generated",
        "Flagged by the screen",
        "Excluded by the screen",
        "Decisions overridden by reviewers",
        "Excluded as memorized copies",
        "Kept and released",
    ]
    keys = TABLE_S1_COLUMNS
    rows = [[r.get(k, "") for k in keys] for r in f.table]
    lines = ["## Table S1: images per checkpoint", "", *_md_table(header, rows), ""]
    if f.keep == "all":
        lines += [
            f"Images the screen flagged are **included** in this release unless a reviewer "
            f"excluded them: {f.n_screen_flagged} of the {f.n_images} released images "
            "(`screen_flagged = 1` in metadata.csv).",
            "",
        ]
    return lines


def _quality(f: CardFacts) -> list[str]:
    lines = ["## Image quality (FID and related metrics)", ""]
    if not f.fid:
        return [*lines, "No FID sweep was given for this release.", ""]
    header = ["Set", "FID", "KID", "Precision", "Recall", "Real images", "Synthetic images"]
    rows = [
        [
            name,
            _num(r.fid),
            _num(r.kid_mean, 4),
            _num(r.precision),
            _num(r.recall),
            r.n_real,
            r.n_fake,
        ]
        for name, r in f.fid
    ]
    return [
        *lines,
        *_md_table(header, rows),
        "",
        "FID against held-out real images (Heusel et al. 2017); KID (Binkowski et al. 2018);"
        " precision and recall (Kynkaanniemi et al. 2019).",
        "",
    ]


def _audit(f: CardFacts) -> list[str]:
    a = f.audit
    released = int(a.get("n_flagged_released", 0))
    adjudicated = (
        f'{released} of them are released, each adjudicated "not a copy" by two or more reviewers'
        if released
        else "none of them is released"
    )
    return [
        "## Memorization audit",
        "",
        f"Every audited image was compared with every training image (`{a.get('feature')}` "
        "features, exact cosine nearest neighbour). An image whose nearest training image is "
        f"closer than {a.get('flag_percentile')} % of held-out real images' nearest training "
        f"images is flagged: {a.get('n_flagged', 0)} of {a.get('n_synthetic', 'n/a')} audited "
        f"images were flagged and {adjudicated}. No released image equals a training or "
        "held-out image pixel for pixel, as generated or mirrored (checked on release); "
        "`audit_similarity` and `audit_percentile` in metadata.csv give each image's result.",
        "",
    ]


def _study(f: CardFacts) -> list[str]:
    lines = ["## Reader study", ""]
    s = f.study
    if not s:
        return [*lines, "No reader study was run for this release.", ""]
    pooled, chance = s.identification["pooled"], s.identification.get("chance")
    kind = "simulated" if s.simulated else s.rater_kind
    return [
        *lines,
        f"{s.n_raters} {kind} raters saw {s.n_items} items ({s.design} "
        f"design) and identified the real image {pooled.get('correct')} of {pooled.get('n')} "
        f"times: accuracy {_num(pooled.get('accuracy'))} ({_pct(pooled.get('conf_level'))} "
        f"Wilson CI {_num(pooled.get('wilson_low'))}-{_num(pooled.get('wilson_high'))}; "
        f"chance {_num(chance)}).",
        "",
    ]


def _limitations(f: CardFacts) -> list[str]:
    items = [
        f"Images are {f.size_px[1]}x{f.size_px[0]} px: the training radiographs were resampled "
        f"to {f.trained_px or 'n/a'} px, so fine detail of the originals is lost.",
        "Implausible anatomy can escape the screen: it is calibrated to flag "
        f"{_pct(f.screen.get('frr_target'))} of real images and misses some synthetic errors.",
        "The memorization audit finds near-copies only as close as its features see them; "
        "exact pixel copies of training images are refused outright.",
    ]
    if f.phantoms:
        items.append(
            "The training images were phantoms: the images show no real anatomy or "
            "pathology and must not be used to train or test clinical models."
        )
    if f.study and f.study.simulated:
        items.append("The reader study used simulated raters; it is no evidence of realism.")
    if f.keep == "all":
        items.append("Images the screen flagged are included (see Table S1).")
    return ["## Known limitations", "", *(f"- {i}" for i in items), ""]


def render_card(f: CardFacts) -> str:
    """The dataset card's text (YAML header, then Markdown)."""
    made_from = "phantoms" if f.phantoms else "radiographs"
    lines = [
        _header(f),
        f"# {f.name}",
        "",
        f"{f.n_images:,} synthetic radiographs ({f.size_px[1]}x{f.size_px[0]} px, "
        f"{f.bits}-bit grey PNG) from a diffusion model trained on {made_from}, release "
        f"{f.version}. Made with radsynth.",
        "",
        *_provenance_notice(f),
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("imagefolder", data_dir="PATH/TO/THIS/FOLDER")',
        "```",
        "",
        "`metadata.csv` has one row per image (provenance, screening, audit, sha256); "
        "`SHA256SUMS` checks every file (`sha256sum -c SHA256SUMS`).",
    ]
    if "shards" in f.formats:
        lines.append(
            "WebDataset shards (`shards/shard-NNNNNN.tar`, `<id>.png` + `<id>.json`) "
            "hold the same images."
        )
    if "dicom" in f.formats:
        lines.append(
            "`dicom/<id>.dcm` holds each image as DICOM Secondary Capture, marked "
            "DERIVED\\SECONDARY and SYNTHETIC, with empty patient name and id."
        )
    lines += ["", *_how_made(f), *_table_s1(f), *_quality(f), *_audit(f), *_study(f)]
    attribution = f.attribution or "none given"
    lines += [
        "## Licence and attribution",
        "",
        f"- This dataset: **{f.licence}**.",
        f"- Training data: {f.source_licence}; attribution: {attribution}.",
        "",
        "## Intended use",
        "",
        "Research on synthetic medical images: methods for generation, screening, "
        "memorization audits and reader studies, and teaching. Not for diagnosis, and not "
        "as a stand-in for patient data in clinical validation.",
        "",
        *_limitations(f),
        "## Release",
        "",
        f"- Version: {f.version}",
        f"- Images: {f.n_images:,}; checkpoints: "
        + ", ".join(f"`{c['checkpoint']}` ({c['sha256'][:16]})" for c in f.checkpoints),
        "",
    ]
    return "\n".join(lines)
