"""Inputs of a class-conditional reader study, written the way ingest and sampling write them.

- ``data/val/NNNNNN.png`` real images and ``data/manifest.csv`` (ingest's columns that matter
  here, then the label column), numbered across splits as ingest numbers them;
- ``ckA/NNNNNN.png`` and ``ckB/...`` synthetic sets with their sampling sidecars in ``meta/``
  (``{"image", "seed", "label", "guidance"}``), classes in ``--label-mix`` blocks.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("NORMAL", "PNEUMONIA")
N_REAL = 12  # val images; train images 0..3 are in the manifest only
N_SYNTHETIC = 10


@dataclass
class ClassInputs:
    real: Path  # data/val
    manifest: Path  # data/manifest.csv
    synthetic: dict[str, Path]  # set name -> folder (sidecars in folder/meta)
    real_class: dict[str, str]  # real file name -> class
    synthetic_class: dict[str, str]  # "SET/file name" -> class


def _png(path: Path, rng: np.random.Generator, level: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = (np.clip(rng.random((32, 32)) * 0.4 + level, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(img).save(path)


def write_class_inputs(root: Path) -> ClassInputs:
    """Write the inputs under ``root`` (deterministic)."""
    rng = np.random.default_rng(5)
    data = root / "data"
    rows, real_class = [], {}
    for index in range(4 + N_REAL):
        split = "train" if index < 4 else "val"
        label = CLASSES[index % 2]
        name = f"{index:06d}.png"
        _png(data / split / name, rng, 0.2 + 0.3 * (index % 2))
        rows.append({"image": f"{split}/{name}", "split": split,
                     "source_path": f"{label}/src{index}.jpeg", "label": label})  # fmt: skip
        if split == "val":
            real_class[name] = label
    with open(data / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["image", "split", "source_path", "label"])
        writer.writeheader()
        writer.writerows(rows)
    synthetic, synthetic_class = {}, {}
    for k, name in enumerate(("ckA", "ckB")):
        folder = root / name
        for seed in range(N_SYNTHETIC):
            label = CLASSES[int(seed >= N_SYNTHETIC // 2)]  # --label-mix NORMAL=5 PNEUMONIA=5
            _png(folder / f"{seed:06d}.png", rng, 0.1 + 0.2 * k)
            meta = {"image": f"{seed:06d}.png", "seed": seed, "label": label, "guidance": 2.0}
            (folder / "meta").mkdir(exist_ok=True)
            (folder / "meta" / f"{seed:06d}.json").write_text(json.dumps(meta) + "\n")
            synthetic_class[f"{name}/{seed:06d}.png"] = label
        synthetic[name] = folder
    return ClassInputs(data / "val", data / "manifest.csv", synthetic, real_class, synthetic_class)
