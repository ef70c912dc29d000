"""Per-image classes of a class-conditional reader study, and the finding each class names.

A conditional run's images each belong to a class (e.g. NORMAL or PNEUMONIA, or a joint class
such as ``PNEUMONIA|F`` when training conditioned on several columns). With
``radsynth study create --finding-per-class`` every image stores its class (``Image.label``) and
the finding question asks whether the image shows *its own class's* finding, as in the reader
studies of class-conditional generators where radiologists judged "whether each image shows its
target finding".

Where the classes come from:

- a synthetic image: its sampling sidecar ``META/<stem>.json`` (``radsynth sample`` writes
  ``{"image": "000012.png", "seed": 12, "label": "PNEUMONIA", ...}``; see
  :mod:`radsynth.sampling.sample`), with ``META`` = ``SETDIR/meta`` unless ``--synthetic-meta
  NAME=DIR`` names another folder (the pipeline copies kept images without their sidecars);
- a real image: the ingest ``manifest.csv`` (:mod:`radsynth.data.labels`): the row whose
  ``image`` path ends with the image's path below the real folder (ingest numbers images
  across splits, so ``val/000007.png`` is found from ``real_oriented/000007.png``); the class is
  the ``--label-columns`` values joined with ``|``, exactly as ``train --condition-on`` forms
  its class names.

Images are chosen class-matched (:func:`slot_classes`, :func:`matched_choice`): all images of
an item share one class, and the classes every set has are dealt to the items in equal numbers.
Unmatched, a quartet would ask "Shows pneumonia?" under one card and "Shows no acute finding?"
under another, and a class mix that differs between the real and synthetic sets would tell
the rater which card is likely real; equal numbers per class also give every class the same
precision in the statistics.

The question shown (one form for every class): "Shows TEXT?" with TEXT from ``--class-finding
CLASS=TEXT`` (default: the class name). A class that stands for the absence of disease is given
that absence as its finding, e.g. ``NORMAL="no acute finding"``. We keep one question form for
all classes rather than asking "does this look like a typical NORMAL film?" for the normal
class: then "yes" means the same thing for every class -- the image shows what it was meant to
show -- so the per-class shares of "yes" answers are one quantity (reader-judged conditional
fidelity, the counterpart of the utility benchmark's classifier-judged fidelity) and can be
compared and corrected for multiplicity together. A typicality question would ask readers for a
different, vaguer judgement on one class only. Images without a class (attention checks) are
asked about the study-wide ``--finding`` text; their answers are never analysed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from radsynth.data.imageio import RASTER_SUFFIXES, list_images
from radsynth.errors import RadsynthError
from radsynth.io import read_json
from radsynth.records.manifest import read_manifest
from radsynth.study.design import ItemPlan

#: Longest class name (the ``image.label`` column) and finding text.
MAX_LABEL_CHARS = 64
MAX_FINDING_CHARS = 200
#: ``meta`` keys of a per-class study (absent in a study-wide one, as before classes existed).
META_PER_CLASS = "finding_per_class"
META_CLASS_FINDINGS = "class_findings"


def parse_class_findings(specs: Sequence[str]) -> dict[str, str]:
    """``("PNEUMONIA=pneumonia", "NORMAL=no acute finding")`` -> ``{class: text}``.

    Raises:
        RadsynthError: an entry without ``=``, an empty or too long class or text, a class
            given twice.
    """
    found: dict[str, str] = {}
    for spec in specs:
        name, sep, text = spec.partition("=")
        name, text = name.strip(), text.strip().strip('"').strip()
        if not sep or not name or not text:
            raise RadsynthError(f"--class-finding wants CLASS=TEXT, got {spec!r}")
        if len(name) > MAX_LABEL_CHARS or len(text) > MAX_FINDING_CHARS:
            raise RadsynthError(
                f"--class-finding {spec[:40]!r}...: class at most "
                f"{MAX_LABEL_CHARS}, text at most {MAX_FINDING_CHARS} "
                "characters"
            )
        if name in found:
            raise RadsynthError(f"--class-finding names class {name!r} twice")
        found[name] = text
    return found


def parse_meta_dirs(specs: Sequence[str], sets: dict[str, Path]) -> dict[str, Path]:
    """Sidecar folder per synthetic set: ``--synthetic-meta NAME=DIR``, else ``SETDIR/meta``.

    Raises:
        RadsynthError: a malformed entry or a name that is not a synthetic set.
    """
    dirs = {name: folder / "meta" for name, folder in sets.items()}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not folder or name not in sets:
            raise RadsynthError(
                f"--synthetic-meta wants NAME=DIR for a --synthetic set "
                f"({', '.join(sets)}), got {spec!r}"
            )
        dirs[name] = Path(folder)
    return dirs


def _checked(label: object, where: str) -> str:
    if not isinstance(label, str) or not label.strip():
        raise RadsynthError(
            f"{where} has no class (label); sample from a class-conditional "
            "checkpoint with --label or --label-mix"
        )
    if len(label) > MAX_LABEL_CHARS:
        raise RadsynthError(f"{where}: class {label[:20]!r}... is longer than {MAX_LABEL_CHARS}")
    return label.strip()


def synthetic_label(image: Path, meta_dir: Path) -> str:
    """The class a sampling sidecar records for ``image`` (``META/<stem>.json``).

    Raises:
        RadsynthError: no sidecar, unreadable JSON, or no class in it.
    """
    sidecar = meta_dir / f"{image.stem}.json"
    if not sidecar.is_file():
        raise RadsynthError(
            f"no sampling sidecar {sidecar} for {image.name}; give the set's "
            "sidecar folder with --synthetic-meta NAME=DIR"
        )
    record = read_json(sidecar, "sampling sidecar")
    if not isinstance(record, dict):
        raise RadsynthError(f"sampling sidecar {sidecar} is not a JSON object")
    return _checked(record.get("label"), f"sampling sidecar {sidecar}")


def manifest_labels(manifest: Path, columns: Sequence[str]) -> dict[str, str]:
    """``{image path in the manifest: class}`` from an ingest manifest.csv.

    Raises:
        RadsynthError: unreadable file, a missing column (listing the label columns there), or
            an image without a value.
    """
    if not columns:
        raise RadsynthError("--label-columns needs at least one manifest column")
    rows = read_manifest(
        manifest, required=columns, hint="ingest with --labels or --label-from-folder"
    )
    if not rows:
        raise RadsynthError(f"{manifest} lists no images")
    out = {}
    for row in rows:
        values = [row.value(c).strip() for c in columns]
        out[row.image.strip()] = "|".join(values) if all(values) else ""
    return out


def real_label(rel: str, by_image: dict[str, str], manifest: Path) -> str:
    """The class of a real image from its path ``rel`` below the real folder.

    Raises:
        RadsynthError: no manifest row or several rows end with ``rel``, or the row has no class.
    """
    name = PurePosixPath(rel).name
    hits = [
        k for k in by_image if k == rel or (PurePosixPath(k).name == name and k.endswith("/" + rel))
    ]
    if len(hits) != 1:
        what = "no row" if not hits else f"{len(hits)} rows ({', '.join(hits[:3])})"
        raise RadsynthError(
            f"real image {rel}: {what} of {manifest} names it; give the "
            "manifest of the ingest the real folder came from "
            "(--real-manifest)"
        )
    return _checked(by_image[hits[0]] or None, f"real image {rel} in {manifest}")


def finding_texts(classes: Sequence[str], given: dict[str, str]) -> dict[str, str]:
    """The finding text of every class: ``given`` where set, else the class name.

    Raises:
        RadsynthError: ``given`` names a class no image of the study or the manifest has (a
            typo would otherwise silently fall back to the class name).
    """
    unknown = sorted(set(given) - set(classes))
    if unknown:
        raise RadsynthError(
            f"--class-finding names class(es) {', '.join(unknown)} that no "
            f"image has (classes: {', '.join(sorted(classes))})"
        )
    return {c: given.get(c, c) for c in sorted(classes)}


def encode_findings(texts: dict[str, str]) -> str:
    """The ``meta`` value of :data:`META_CLASS_FINDINGS`."""
    return json.dumps(texts, sort_keys=True)


def per_class(meta: dict[str, str]) -> bool:
    """Whether a study asks about each image's own class (false for every older study)."""
    return meta.get(META_PER_CLASS) == "1"


def question_texts(meta: dict[str, str], labels: dict[str, str | None]) -> dict[str, str]:
    """``{image id: finding text}`` for the images of one item.

    Args:
        meta: the study settings.
        labels: image id -> its class (None: no class, e.g. an attention check).
    """
    default = meta.get("finding", "the stated finding")
    if not per_class(meta):
        return dict.fromkeys(labels, default)
    texts = json.loads(meta.get(META_CLASS_FINDINGS) or "{}")
    return {i: texts.get(c, c) if c else default for i, c in labels.items()}


def slot_classes(plans: Sequence[ItemPlan], classes: Sequence[str], seed: int) -> dict:
    """The class of every image slot, so that all images of an item share one class.

    Items are bucketed by the set of groups they show (every quartet shows all groups; a
    single-image item shows one), and within a bucket the classes are dealt in turn, in a seeded
    random order: each class gets the same number of items (+-1) in every bucket, so every class
    is measured equally often for real and for each synthetic set, and within a quartet the
    question text is the same on every card (it cannot point at the real image). Attention
    noise slots get no class; repeats reuse their original's slots.

    Returns:
        ``{(group, j): class}`` for every slot of a non-repeat item except attention noise.
    """
    rng = np.random.default_rng([seed, 5])
    buckets: dict[frozenset, list[ItemPlan]] = {}
    for plan in plans:
        if plan.kind != "repeat":
            buckets.setdefault(frozenset(g for g, _ in plan.slots), []).append(plan)
    out = {}
    for key in sorted(buckets, key=sorted):
        items = buckets[key]
        dealt = [classes[k % len(classes)] for k in range(len(items))]
        for plan, j in zip(items, rng.permutation(len(items)), strict=True):
            for slot in plan.slots:
                if slot[0] != "attention":
                    out[slot] = dealt[int(j)]
    return out


def matched_choice(
    slots: dict[tuple[str, int], str], pools: dict[str, dict[Path, str]], seed: int
) -> dict[str, list[Path]]:
    """Draw each slot's image from its group's images of the slot's class, without replacement.

    Args:
        slots: ``{(group, j): class}`` from :func:`slot_classes`.
        pools: group -> {image path: class}, every candidate image of the group.
        seed: the study seed.

    Returns:
        ``{group: [path of slot 0, slot 1, ...]}``.

    Raises:
        RadsynthError: a group has too few images of a class.
    """
    rng = np.random.default_rng([seed, 0])
    chosen: dict[str, list[Path]] = {}
    for g in pools:
        need = sorted(j for (group, j) in slots if group == g)
        by_class: dict[str, list[Path]] = {}
        for path, c in sorted(pools[g].items()):
            by_class.setdefault(c, []).append(path)
        picks: dict[int, Path] = {}
        for c in sorted({slots[g, j] for j in need}):
            js = [j for j in need if slots[g, j] == c]
            have = by_class.get(c, [])
            if len(have) < len(js):
                raise RadsynthError(
                    f"{g} set has {len(have)} {c} image(s); the class-matched study needs {len(js)}"
                )
            drawn = sorted(rng.choice(len(have), size=len(js), replace=False).tolist())
            picks.update({j: have[k] for j, k in zip(js, drawn, strict=True)})
        chosen[g] = [picks[j] for j in range(len(need))]
    return chosen


def class_pools(
    folders: dict[str, Path],
    meta_dirs: dict[str, Path],
    manifest: Path,
    label_columns: Sequence[str],
) -> dict[str, dict[Path, str]]:
    """Every candidate image's class, per group: the real images' from ingest's manifest, the
    synthetic images' from their sidecars in ``meta_dirs``."""
    by_image = manifest_labels(manifest, label_columns)
    pools = {}
    for g, folder in folders.items():
        paths = list_images(folder, RASTER_SUFFIXES)
        if g == "real":
            pools[g] = {
                p: real_label(p.relative_to(folder).as_posix(), by_image, manifest) for p in paths
            }
        else:
            pools[g] = {p: synthetic_label(p, meta_dirs[g]) for p in paths}
    return pools


def choose_by_class(
    plans: list[ItemPlan],
    pools: dict[str, dict[Path, str]],
    given: dict[str, str],
    seed: int,
) -> tuple[dict[str, list[Path]], dict[tuple[str, int], str], dict[str, str]]:
    """Class-matched images: ``(chosen, {(group, j): class}, {class: finding text})``.

    Only classes that every group has are shown (a class missing from one set could not be
    compared with the real images); all images of an item share one class.
    """
    shared = sorted(set.intersection(*(set(p.values()) for p in pools.values())))
    if not shared:
        found = {g: sorted(set(p.values())) for g, p in pools.items()}
        raise RadsynthError(
            f"no class is in every image set ({found}); sample the synthetic "
            "sets for the real images' classes"
        )
    slots = slot_classes(plans, shared, seed)
    chosen = matched_choice(slots, pools, seed)
    known = {c for p in pools.values() for c in p.values()}
    return chosen, slots, finding_texts(sorted(known), given)
