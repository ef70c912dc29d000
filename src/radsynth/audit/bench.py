"""``radsynth bench audit``: recall of planted near-copies and false flags on novel patients.

Real films are split by patient into training, held-out (calibration) and novel films; near-
copies of training films, each transform of :mod:`radsynth.audit.plant` at its stated strength,
are planted among the novel films, and ``radsynth audit`` runs on them once per feature at its
default threshold. Printed per feature: recall per transform (flagged), how many were matched
to their true source, and the false-flag rate on the novel films, with Wilson 95% CIs.

Sources: ``pediatric`` (../shared/data/cxr-pediatric-224; patient ids from file names:
PNEUMONIA ``person<ID>_...``, NORMAL ``IM-<ID>-<n>`` or ``NORMAL2-IM-<ID>-<n>``), ``adult``
(../shared/data/cxr-adult-actualmed-54, ``patientid`` column; 54 films, so small sets and a
lower percentile), or ``phantoms`` (generated; every phantom is its own patient).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from radsynth.audit.audit import AuditConfig, audit
from radsynth.audit.findings import share
from radsynth.audit.plant import STRENGTHS, TRANSFORMS, plant
from radsynth.config import arg
from radsynth.data.imageio import read_gray, write_png
from radsynth.data.resample import resize_float
from radsynth.errors import RadsynthError
from radsynth.hardware.threads import cpu_threads
from radsynth.io import read_csv_rows, read_json
from radsynth.records.audit import read_neighbours
from radsynth.stage import StageResult, atomic_write_text, prepare_output_dir, write_manifest

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
PEDIATRIC_ID = re.compile(r"(person\d+)_|(?:NORMAL2-)?IM-(\d+)-")


@dataclass(frozen=True)
class BenchAuditConfig:
    """Planted near-copies among novel films: recall per transform and false-flag rate."""

    out: Path = arg(help="new output folder for the image sets, audits and results.json")
    source: Literal["pediatric", "adult", "phantoms"] = arg(
        "pediatric", help="where films come from (see the module docstring)"
    )
    data: Path | None = arg(None, help="data folder (default: ../shared/data/<source set>)")
    features: tuple[str, ...] = arg(("pixels", "inception", "copy"), help="audit features to run")
    size_px: int = arg(64, help="films are resized to size_px x size_px (the transforms' px)")
    n_train: int = arg(1000, help="training films")
    n_val: int = arg(200, help="held-out films the threshold is calibrated on")
    n_novel: int = arg(500, help="novel patients' films among the synthetic images")
    per_transform: int = arg(20, help="planted near-copies per transform")
    flag_percentile: float = arg(99.5, help="the audit's flag percentile")
    seed: int = arg(0, help="seed of the split, the sources of copies and the transforms")
    cpu_threads: int = arg(0, help="torch CPU threads (0 = torch's default)")


def _pediatric(folder: Path) -> tuple[list[Path], list[str]]:
    rows = read_csv_rows(folder / "manifest.csv", "data set manifest", ("file",))
    files = [folder / r["file"] for r in rows]
    ids = []
    for p in files:
        m = PEDIATRIC_ID.search(p.name)
        if m is None:
            raise RadsynthError(f"no patient id in the file name {p.name}")
        ids.append(m.group(1) or f"IM-{m.group(2)}")
    return files, ids


def _adult(folder: Path) -> tuple[list[Path], list[str]]:
    rows = read_csv_rows(folder / "manifest.csv", "data set manifest", ("file", "patientid"))
    return [folder / r["file"] for r in rows], [r["patientid"] for r in rows]


def _films(cfg: BenchAuditConfig, n: int):
    """n (image, patient) pairs: real films resized, or phantoms; a loader per film."""
    if cfg.source == "phantoms":
        from radsynth.data.phantoms import PhantomConfig, render_phantom

        pcfg = PhantomConfig(
            out=Path("."),
            n=n,
            size_px=max(64, cfg.size_px),
            seed=cfg.seed,
            implausible_fraction=0.0,
            negative_fraction=0.0,
        )
        loaders = [(lambda i=i: render_phantom(pcfg, i).image) for i in range(n)]
        return loaders, [str(i) for i in range(n)]
    default = "cxr-pediatric-224" if cfg.source == "pediatric" else "cxr-adult-actualmed-54"
    folder = cfg.data or SHARED / default
    if not (folder / "manifest.csv").is_file():
        raise RadsynthError(f"no manifest.csv in {folder}; pass --data or --source phantoms")
    files, ids = (_pediatric if cfg.source == "pediatric" else _adult)(folder)
    return [(lambda p=p: read_gray(p)) for p in files], ids


def _split(ids: list[str], sizes: tuple[int, int, int], seed: int) -> list[list[int]]:
    """Film indices for (train, val, novel), whole patients each, in a seeded patient order."""
    patients = sorted(set(ids))
    order = np.random.default_rng(seed).permutation(len(patients))
    by_patient: dict[str, list[int]] = {}
    for i, pid in enumerate(ids):
        by_patient.setdefault(pid, []).append(i)
    parts: list[list[int]] = [[], [], []]
    part = 0
    for j in order:
        while part < 3 and len(parts[part]) >= sizes[part]:
            part += 1
        if part == 3:
            break
        parts[part].extend(by_patient[patients[j]])
    if any(len(p) < s for p, s in zip(parts, sizes, strict=True)):
        raise RadsynthError(f"{len(ids)} films are too few for the sizes {sizes}")
    return [p[:s] for p, s in zip(parts, sizes, strict=True)]


def _write_sets(cfg: BenchAuditConfig, root: Path) -> dict[str, tuple[int, str]]:
    """train/ val/ synthetic/ under root; returns {planted name: (source index, kind)}."""
    loaders, ids = _films(cfg, cfg.n_train + cfg.n_val + cfg.n_novel)
    train, val, novel = _split(ids, (cfg.n_train, cfg.n_val, cfg.n_novel), cfg.seed)
    train_imgs = []
    for folder, idx in (("train", train), ("val", val), ("synthetic", novel)):
        for k, i in enumerate(idx):
            img = resize_float(loaders[i](), cfg.size_px, cfg.size_px)
            name = f"new-{k:05d}.png" if folder == "synthetic" else f"{k:05d}.png"
            write_png(root / folder / name, img)
            if folder == "train":
                train_imgs.append(img)
    rng = np.random.default_rng([cfg.seed, 1])
    planted = {}
    for t, kind in enumerate(TRANSFORMS):
        n = min(cfg.per_transform, len(train_imgs))
        for j, src in enumerate(rng.choice(len(train_imgs), n, replace=False)):
            name = f"mem-{kind}-{j:03d}.png"
            copy = plant(train_imgs[src], kind, seed=cfg.seed * 10**6 + t * 10**4 + j)
            write_png(root / "synthetic" / name, copy)
            planted[name] = (int(src), kind)
    return planted


def _score(audit_dir: Path, planted: dict[str, tuple[int, str]]) -> dict:
    rows = {r.synthetic: r for r in read_neighbours(audit_dir / "neighbours.csv")}
    out: dict = {"recall": {}, "source_found": {}}
    for kind in TRANSFORMS:
        names = [n for n, (_, k) in planted.items() if k == kind]
        hits = sum(rows[n].flagged for n in names)
        right = sum(rows[n].flagged and rows[n].train == f"{planted[n][0]:05d}.png" for n in names)
        out["recall"][kind] = share(hits, len(names))
        out["source_found"][kind] = share(right, len(names))
    novel = [r for n, r in rows.items() if n.startswith("new-")]
    out["false_flags"] = share(sum(r.flagged for r in novel), len(novel))
    cal = read_json(audit_dir / "calibration.json", "audit calibration")
    out["threshold"] = cal["threshold_similarity"]
    out["n_val_used"] = cal["n_val_used"]
    return out


def bench_audit(cfg: BenchAuditConfig) -> StageResult:
    """Write the sets, audit them with each feature, print and save the table."""
    with cpu_threads(cfg.cpu_threads):
        prepare_output_dir(cfg.out, "bench audit", cfg)
        planted = _write_sets(cfg, cfg.out / "sets")
        results = {
            "config": {
                "source": cfg.source,
                "size_px": cfg.size_px,
                "n_train": cfg.n_train,
                "n_val": cfg.n_val,
                "n_novel": cfg.n_novel,
                "per_transform": cfg.per_transform,
                "flag_percentile": cfg.flag_percentile,
            },
            "strengths": STRENGTHS,
            "features": {},
        }
        sets = cfg.out / "sets"
        for feature in cfg.features:
            acfg = AuditConfig(
                train=sets / "train",
                val=sets / "val",
                synthetic=sets / "synthetic",
                out=cfg.out / f"audit-{feature}",
                feature=feature,  # type: ignore[arg-type]
                flag_percentile=cfg.flag_percentile,
                top_k=20,
                synthetic_duplicates=False,
            )
            start, cpu = time.perf_counter(), time.process_time()
            audit(acfg)
            res = _score(acfg.out, planted)
            res["seconds"] = round(time.perf_counter() - start, 1)
            res["cpu_seconds"] = round(time.process_time() - cpu, 1)
            results["features"][feature] = res
        text = table(results)
        print(text)
        atomic_write_text(cfg.out / "results.json", json.dumps(results, indent=2) + "\n")
        atomic_write_text(cfg.out / "table.md", text + "\n")
        write_manifest(cfg.out, "bench audit", cfg, seeds=cfg.seed)  # marks the folder finished
    return StageResult(cfg.out, f"audit benchmark on {cfg.source}: {cfg.out / 'table.md'}")


def table(results: dict) -> str:
    """A markdown table: one row per transform (recall) and one for false flags, per feature."""
    feats = list(results["features"])
    lines = ["| transform | " + " | ".join(feats) + " |", "|---|" + "---|" * len(feats)]
    for kind in TRANSFORMS:
        cells = [_cell(results["features"][f]["recall"][kind]) for f in feats]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    cells = [_cell(results["features"][f]["false_flags"], pct=True) for f in feats]
    lines.append("| **false flags, novel** | " + " | ".join(cells) + " |")
    lines.append(
        "| threshold | "
        + " | ".join(f"{results['features'][f]['threshold']:.4f}" for f in feats)
        + " |"
    )
    lines.append(
        "| audit wall / CPU time (s) | "
        + " | ".join(
            f"{results['features'][f]['seconds']} / {results['features'][f]['cpu_seconds']}"
            for f in feats
        )
        + " |"
    )
    return "\n".join(lines)


def _cell(s: dict, pct: bool = False) -> str:
    lo, hi = s["ci95"]
    if pct:
        return f"{100 * s['share']:.1f}% ({s['count']}/{s['n']}; {100 * lo:.1f}-{100 * hi:.1f})"
    return f"{s['share']:.2f} ({s['count']}/{s['n']}; {lo:.2f}-{hi:.2f})"


@dataclass(frozen=True)
class BenchAuditScaleConfig:
    """Time and memory of feature=copy at a fraction of 100,000 x 5,000, extrapolated."""

    out: Path = arg(help="new output folder (the generated images and results.json)")
    n_train: int = arg(5000, help="training images (the full target size)")
    n_queries: int = arg(5000, help="synthetic images actually searched")
    target_queries: int = arg(100_000, help="synthetic images the time is extrapolated to")
    size_px: int = arg(64, help="image side (px)")
    chunk: int = arg(1024, help="synthetic images in memory at once")
    seed: int = arg(0, help="seed of the generated images")
    cpu_threads: int = arg(0, help="torch CPU threads (0 = torch's default)")


def _blobs(folder: Path, n: int, size_px: int, rng: np.random.Generator) -> list[Path]:
    """n smooth random images (the detector's time does not depend on content: every query
    verifies the same number of candidates)."""
    from scipy import ndimage

    paths = []
    for i in range(n):
        img = ndimage.gaussian_filter(rng.random((size_px, size_px)), 3.0)
        img = (img - img.min()) / (img.max() - img.min() + 1e-9)
        paths.append(folder / f"{i:06d}.png")
        write_png(paths[-1], img)
    return paths


def bench_audit_scale(cfg: BenchAuditScaleConfig) -> StageResult:
    """Fit on n_train images, match n_queries, find near-duplicates among them; print measured
    seconds, peak memory and the linear (matching) and quadratic (within-set search)
    extrapolation to target_queries."""
    import resource

    from radsynth.audit.copy import CopyParams
    from radsynth.audit.matchers import CopyMatcher
    from radsynth.audit.search import topk_cosine

    with cpu_threads(cfg.cpu_threads):
        prepare_output_dir(cfg.out, "bench audit-scale", cfg)
        rng = np.random.default_rng(cfg.seed)
        train = _blobs(cfg.out / "train", cfg.n_train, cfg.size_px, rng)
        queries = _blobs(cfg.out / "queries", cfg.n_queries, cfg.size_px, rng)
        matcher = CopyMatcher(
            CopyParams(work_px=cfg.size_px, coarse_px=cfg.size_px // 2), cfg.chunk, 4096
        )
        # Wall and process CPU seconds: on a shared machine the CPU time is the cost.
        t0, c0 = time.perf_counter(), time.process_time()
        matcher.fit(train)
        t1, c1 = time.perf_counter(), time.process_time()
        matcher.match(queries)
        t2, c2 = time.perf_counter(), time.process_time()
        desc = np.concatenate(
            [
                matcher.descriptors(queries[a : a + cfg.chunk])
                for a in range(0, len(queries), cfg.chunk)
            ]
        )
        t3 = time.perf_counter()
        topk_cosine(desc, desc, matcher.p.candidates + 1, 4096)
        t4, c4 = time.perf_counter(), time.process_time()
        factor = cfg.target_queries / cfg.n_queries
        fig = {
            "n_train": cfg.n_train,
            "n_queries": cfg.n_queries,
            "target_queries": cfg.target_queries,
            "size_px": cfg.size_px,
            "fit_s": round(t1 - t0, 1),
            "match_s": round(t2 - t1, 1),
            "fit_cpu_s": round(c1 - c0, 1),
            "match_cpu_s": round(c2 - c1, 1),
            "within_cpu_s": round(c4 - c2, 1),
            "extrapolated_match_cpu_s": round(factor * (c2 - c1), 0),
            "match_ms_per_query": round(1000 * (t2 - t1) / cfg.n_queries, 2),
            "within_descriptors_s": round(t3 - t2, 1),
            "within_search_s": round(t4 - t3, 1),
            "extrapolated_match_s": round(factor * (t2 - t1), 0),
            "extrapolated_within_s": round(
                factor * (t3 - t2) + factor**2 * (t4 - t3) + factor * (t2 - t1), 0
            ),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        }
        text = json.dumps(fig, indent=2)
        print(text)
        atomic_write_text(cfg.out / "results.json", text + "\n")
    return StageResult(cfg.out, f"copy audit: {fig['match_ms_per_query']} ms per query")
