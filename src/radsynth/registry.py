"""Every pipeline stage by name: ``name -> (help, loader)``, where a loader imports the stage lazily
and returns ``(config class, stage function)``. The CLI and ``radsynth run`` both use it; lazy
imports keep ``radsynth --help`` and the reader-study server free of torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Loader = Callable[[], tuple[type, Callable[[Any], Any]]]


# Each loader imports its stage lazily and returns (config class, stage function).
def _ingest():
    from radsynth.data.ingest import IngestConfig, ingest

    return IngestConfig, ingest


def _phantoms():
    from radsynth.data.phantoms import PhantomConfig, make_phantoms

    return PhantomConfig, make_phantoms


def _train():
    from radsynth.training.config import TrainConfig
    from radsynth.training.train import train

    return TrainConfig, train


def _train_gan():
    from radsynth.gan.config import GanTrainConfig
    from radsynth.gan.train import train_gan

    return GanTrainConfig, train_gan


def _sample():
    from radsynth.sampling.sample import SampleConfig, sample

    return SampleConfig, sample


def _sampler_sweep():
    from radsynth.evaluation.samplers import SamplerSweepConfig, sampler_sweep

    return SamplerSweepConfig, sampler_sweep


def _fid():
    from radsynth.metrics.compare import FidConfig, fid

    return FidConfig, fid


def _fid_sweep():
    from radsynth.evaluation.checkpoints import FidSweepConfig, fid_sweep

    return FidSweepConfig, fid_sweep


def _orient():
    from radsynth.screening.orient import OrientConfig, orient

    return OrientConfig, orient


def _screen():
    from radsynth.screening.screen import ScreenConfig, screen

    return ScreenConfig, screen


def _review():
    from radsynth.review.serve import ReviewConfig, review

    return ReviewConfig, review


def _audit():
    from radsynth.audit.audit import AuditConfig, audit

    return AuditConfig, audit


def _study_create():
    from radsynth.study.create import CreateStudyConfig, create_study

    return CreateStudyConfig, create_study


def _study_serve():
    from radsynth.study.serve import ServeConfig, serve

    return ServeConfig, serve


def _study_export():
    from radsynth.study.export import ExportConfig, export_responses

    return ExportConfig, export_responses


def _study_simulate():
    from radsynth.study.simulate import SimulateConfig, simulate_raters

    return SimulateConfig, simulate_raters


def _study_links():
    from radsynth.study.links import LinksConfig, manage_links

    return LinksConfig, manage_links


def _bench_study():
    from radsynth.study.bench import BenchStudyConfig, bench_study

    return BenchStudyConfig, bench_study


def _stats():
    from radsynth.stats.analysis import StatsConfig, stats

    return StatsConfig, stats


def _report():
    from radsynth.report.build import ReportConfig, report

    return ReportConfig, report


def _release():
    from radsynth.release.build import ReleaseConfig, release

    return ReleaseConfig, release


def _bench_release():
    from radsynth.release.bench import BenchReleaseConfig, bench_release

    return BenchReleaseConfig, bench_release


def _run():
    from radsynth.pipeline.run import RunConfig, run

    return RunConfig, run


def _demo():
    from radsynth.pipeline.demo import DemoConfig, demo

    return DemoConfig, demo


def _bench_train():
    from radsynth.training.bench import BenchTrainConfig, bench_train

    return BenchTrainConfig, bench_train


def _bench_gpu():
    from radsynth.hardware.suite import BenchGpuConfig, bench_gpu

    return BenchGpuConfig, bench_gpu


def _bench_audit():
    from radsynth.audit.bench import BenchAuditConfig, bench_audit

    return BenchAuditConfig, bench_audit


def _bench_audit_scale():
    from radsynth.audit.bench import BenchAuditScaleConfig, bench_audit_scale

    return BenchAuditScaleConfig, bench_audit_scale


def _bench_sample():
    from radsynth.sampling.bench import BenchSampleConfig, bench_sample

    return BenchSampleConfig, bench_sample


def _mirror_model():
    from radsynth.screening.mirror_model import MirrorModelConfig, mirror_model

    return MirrorModelConfig, mirror_model


def _bench_polarity():
    from radsynth.screening.bench import BenchFilmsConfig, bench_polarity

    return BenchFilmsConfig, bench_polarity


def _bench_orient():
    from radsynth.screening.bench import BenchFilmsConfig, bench_orient

    return BenchFilmsConfig, bench_orient


def _bench_screen():
    from radsynth.screening.bench import BenchScreenConfig, bench_screen

    return BenchScreenConfig, bench_screen


def _utility():
    from radsynth.utility.stage import UtilityConfig, utility

    return UtilityConfig, utility


#: Subcommand tree: name -> (one-line help, loader) or name -> (help, nested tree).
COMMANDS: dict[str, tuple[str, Any]] = {
    "phantoms": ("draw procedural lateral C-spine radiograph phantoms", _phantoms),
    "ingest": ("read radiographs (PNG/JPEG/TIFF/DICOM), normalise, dedupe, split", _ingest),
    "train": ("train a DDPM on an ingested dataset", _train),
    "train-gan": ("train a class-conditional GAN (R3GAN) on an ingested dataset", _train_gan),
    "fid-sweep": ("FID/KID/precision/recall across a run's checkpoints", _fid_sweep),
    "sample": ("sample synthetic images from a checkpoint", _sample),
    "sampler-sweep": ("FID of each sampler and step count, against the real set", _sampler_sweep),
    "fid": ("FID, KID and precision/recall between two image folders", _fid),
    "orient": ("detect facing direction and flip images to a canonical side", _orient),
    "mirror-model": (
        "train orient's frontal mirror detector on standard frontal films",
        _mirror_model,
    ),
    "screen": ("flag anatomically implausible samples with a calibrated score", _screen),
    "audit": ("memorization audit: nearest training neighbours of synthetic images", _audit),
    "review": ("web page: screening flags, audit pairs and the films ingest kept out", _review),
    "study": (
        "the blinded reader study (clinical Turing test)",
        {
            "create": ("create a reader study from real and synthetic folders", _study_create),
            "serve": ("serve the reader-study web app", _study_serve),
            "export": ("export answers as a long-format CSV", _study_export),
            "simulate": ("answer a study with simulated raters", _study_simulate),
            "links": ("invitation links: add, reissue, close, reopen, show", _study_links),
        },
    ),
    "stats": ("reader-study statistics: accuracy, kappa, Wilcoxon, Holm, TOST", _stats),
    "utility": ("AUROC of classifiers trained on real, synthetic and mixed data", _utility),
    "report": ("one self-contained HTML report for a pipeline run", _report),
    "release": ("release the kept images as a dataset: card, checksums, leak checks", _release),
    "run": ("run the whole pipeline from a YAML config", _run),
    "demo": ("run the whole pipeline on built-in phantoms", _demo),
    "bench": (
        "benchmarks that print measured throughput",
        {
            "train": ("training images/s and MFU for a preset", _bench_train),
            "sample": ("sampling images/s and MFU for a checkpoint or preset", _bench_sample),
            "gpu": ("the GPU suite: train and sample, with and without compile", _bench_gpu),
            "release": ("seconds to release N images, leak checks included", _bench_release),
            "study": ("reader-study server requests/s and latency under N raters", _bench_study),
            "polarity": ("accuracy of negative/rotated-film detection, planted", _bench_polarity),
            "orient": ("accuracy of mirrored-film / facing detection, planted", _bench_orient),
            "screen": ("screen recall per planted implausibility and measured FRR", _bench_screen),
            "audit": (
                "memorization audit: recall of planted near-copies, false flags",
                _bench_audit,
            ),
            "audit-scale": (
                "copy audit time and memory, extrapolated to 100k x 5k",
                _bench_audit_scale,
            ),
        },
    ),
}


def loader(name: str) -> Loader:
    """The loader of a subcommand path such as ``"study create"``."""
    tree: Any = COMMANDS
    for part in name.split():
        tree = tree[part][1]
    return tree
