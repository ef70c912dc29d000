"""``radsynth demo``: the whole pipeline on built-in lateral C-spine phantoms, on a CPU.

It runs exactly what ``radsynth run`` runs, with the ``demo`` training preset, and with
simulated raters standing in for the reader study. Simulated raters are labelled as such in the
study export, the statistics and the report, and are never mixed with real answers. It ends
with a release folder (``RUN_DIR/release``) whose dataset card says plainly that the images come
from phantoms and that the readers were simulated; the report links to that card.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from radsynth.config import arg
from radsynth.pipeline.run import run_pipeline
from radsynth.pipeline.spec import parse_spec
from radsynth.stage import StageResult


@dataclass(frozen=True)
class DemoConfig:
    """Run the pipeline on built-in phantoms, with simulated readers, into one run folder."""

    run_dir: Path = arg(Path("runs/demo"), help="run folder; the report is RUN_DIR/report.html")
    scale: Literal["demo", "tiny"] = arg(
        "demo", help="demo: 64 px, a few minutes on 2 CPU cores; tiny: 32 px, for tests"
    )
    seed: int = arg(0, help="seed for the phantoms, the split, sampling and the simulated raters")


def demo_spec(scale: str, seed: int) -> dict[str, Any]:
    """The pipeline mapping the demo runs (the same keys as a pipeline YAML file)."""
    tiny = scale == "tiny"
    size_px = 32 if tiny else 64
    return {
        "name": f"{scale}-demo",
        # Plausible training anatomy only, as in the study's real data; mixed facing and some
        # negative films, so that ingest's inversion and orient's flip have work to do.
        "phantoms": {
            "n": 160 if tiny else 1200,
            "size_px": 64,  # phantoms are drawn at >= 64 px; ingest resamples to size_px
            "seed": seed,
            "implausible_fraction": 0.0,
            "negative_fraction": 0.1,
            "right_facing_fraction": 0.5,
        },
        "ingest": {
            "size_px": size_px,
            "resize": "stretch",
            "seed": seed,
            # radsynth draws the phantoms itself: no third party's data, so no restriction.
            "source_licence": "CC0-1.0",
            "attribution": "lateral C-spine phantoms drawn by radsynth (no patient data)",
        },
        "train": {"preset": scale, "seed": seed},
        # FID against the held-out real images, with enough samples per checkpoint to show the
        # trend on a CPU; the tiny run uses the cheap pixel feature space.
        "fid_sweep": {
            "every": 1,
            "n": 24 if tiny else 64,
            "feature": "pixels" if tiny else "inception",
            "real": "data/val",
        },
        "checkpoints": "auto",
        # Two checkpoints (real + 2 per screen): after 1,000 CPU steps the third-best checkpoint
        # leaves too few images past the screen for a 12-item study (4 of 80 when measured).
        "n_checkpoints": 3 if tiny else 2,
        "sample": {"n": 16 if tiny else 80, "sampler": "dpmpp", "steps": 8 if tiny else 20},
        "orient": {},
        "screen": {},
        # The tiny model trains for seconds and draws noise, which the screen rightly rejects;
        # the tiny run carries every sample on so that the later stages have work to do.
        "keep": "all" if tiny else "screened",
        # The default copy detector; the percentile fits the held-out set (15% of the phantoms:
        # ~180, or ~24 tiny), since p needs 100 / (100 - p) held-out images.
        "audit": {"flag_percentile": 90.0 if tiny else 99.0},
        "study": {
            "design": "quartet",
            "items": 6 if tiny else 12,
            "raters": 3 if tiny else 5,
            "seed": seed,
        },
        "simulate": {"seed": seed, "raters": 3 if tiny else 5},
        "stats": {},
        "release": {
            "name": f"radsynth {scale} demo: synthetic lateral C-spine phantom radiographs"
        },
    }


def demo(cfg: DemoConfig) -> StageResult:
    """Run the demo pipeline and return where its report is."""
    spec = parse_spec(demo_spec(cfg.scale, cfg.seed), base=Path.cwd(), run_dir=cfg.run_dir)
    return run_pipeline(spec)
