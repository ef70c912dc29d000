"""The run folder's layout: every path of a ``radsynth run`` folder, in one place.

Nothing else in radsynth formats or parses a run path or a checkpoint folder name
(``tests/test_layout.py`` greps for the patterns). A stage that works inside a run folder asks
:class:`RunLayout` where its inputs and its output are; a stage run on its own takes plain
folders and never needs it. ::

    RUN/
      pipeline.json  pipeline.lock  checkpoints.json  report.html
      phantoms/images/             built-in phantoms (when the pipeline has no source:)
      data/{train,val,test}/       ingest: the real images, split; manifest.csv, review.csv
      train/checkpoints/step-NNNNNNN/   train: one folder per checkpoint; losses.csv
      train/ema_snapshots/step-NNNNNNN.safetensors   train --ema posthoc: EMA profile snapshots
      train/latent_cache.safetensors   train --autoencoder: the films' encoded latents
      fid_sweep/                   FID per checkpoint (fid.csv), its samples/step-NNNNNNN/
      samples/step-NNNNNNN/        the chosen checkpoints' samples, as generated
      samples-unused/step-NNNNNNN/ samples of checkpoints no longer chosen (kept, not deleted)
      oriented/step-NNNNNNN/       samples turned to the canonical side; orientation.csv
      screen/                      screen.csv, table_s1.csv, threshold.json
      kept_as_generated/step-NNNNNNN/  kept samples as generated (what the audit reads)
      audit/                       neighbours.csv, pairs.csv
      keep/                        images.csv, table_s1.csv: each image's fate
      kept/step-NNNNNNN/           kept samples, oriented (what readers see)
      review/                      reviewers' decisions (radsynth review)
      utility/  real_oriented/  study/  stats/  release/

A run with several generators (``generators:`` in the pipeline file) gives each its own
``generators/NAME/{train,fid_sweep,checkpoints.json}`` (:class:`GeneratorLayout`), and its sets
one more folder level: ``samples/NAME/step-NNNNNNN``, ``kept/NAME/step-NNNNNNN``, and so on. A
synthetic set is named by that relative folder (:class:`SyntheticSet`): ``gan/step-0004000``
everywhere, in the screen's groups, the fates, Table S1, the study and the release. A run with
one unnamed generator keeps the paths above (``train/``, ``samples/step-NNNNNNN``), so its
folders stay cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: A checkpoint folder's name: the optimizer step, zero-padded to 7 digits.
_CHECKPOINT = re.compile(r"step-(\d{7,})")
#: A generator's name: a folder name on every file system, never a checkpoint name.
_GENERATOR = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
#: Names a generator may not take: a run folder's own names (``all`` is orient's group of images
#: at the top of a folder, ``real`` the study's real set).
RESERVED_GENERATOR_NAMES = frozenset({"all", "real", "generators", "unused"})


def checkpoint_name(step: int) -> str:
    """The folder name of the checkpoint saved after ``step`` optimizer steps (``step-0001000``).

    The same name labels that checkpoint's samples, its kept images and its group in the study.
    """
    if step < 0:
        raise ValueError(f"a training step is >= 0, got {step}")
    return f"step-{step:07d}"


def checkpoint_step(name: str) -> int | None:
    """The optimizer step of a checkpoint folder name, or None when ``name`` is not one."""
    m = _CHECKPOINT.fullmatch(name)
    return int(m.group(1)) if m else None


def generator_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a generator (a letter, then up to 31 letters, digits, ``_`` or
    ``-``; not a checkpoint name nor a reserved word), or None when it can."""
    if not _GENERATOR.fullmatch(name):
        return "a letter, then up to 31 letters, digits, '_' or '-'"
    if checkpoint_step(name) is not None or name.startswith("step-"):
        return "it reads as a checkpoint name"
    if name.casefold() in RESERVED_GENERATOR_NAMES:
        return f"reserved ({', '.join(sorted(RESERVED_GENERATOR_NAMES))})"
    return None


@dataclass(frozen=True)
class SyntheticSet:
    """One synthetic set: the images one checkpoint of one generator sampled.

    Its :attr:`name` is its folder relative to ``samples/`` (and ``kept/``, ``oriented/``...):
    ``step-NNNNNNN`` for a run's one unnamed generator, ``NAME/step-NNNNNNN`` otherwise.
    """

    generator: str | None  # None: the run's one unnamed generator
    step: int  # the checkpoint's optimizer step

    @property
    def name(self) -> str:
        checkpoint = checkpoint_name(self.step)
        return checkpoint if self.generator is None else f"{self.generator}/{checkpoint}"


def parse_set_name(name: str) -> SyntheticSet | None:
    """The set a name such as ``gan/step-0004000`` or ``step-0004000`` names, or None."""
    generator, _, checkpoint = name.rpartition("/")
    step = checkpoint_step(checkpoint)
    if step is None or (generator and generator_name_problem(generator) is not None):
        return None
    return SyntheticSet(generator or None, step)


def set_generator(name: str) -> str | None:
    """The generator of a set (or group) name: ``gan`` of ``gan/step-0004000``, None for an
    unnamed generator's ``step-0004000`` (and for any name without a generator folder)."""
    parsed = parse_set_name(name)
    return parsed.generator if parsed is not None else None


def checkpoint_folder(train_dir: Path, step: int) -> Path:
    """``train_dir/checkpoints/step-NNNNNNN``: where training saves the checkpoint of ``step``."""
    return Path(train_dir) / "checkpoints" / checkpoint_name(step)


def checkpoints_root(train_dir: Path) -> Path:
    """The folder holding the checkpoint folders: ``train_dir/checkpoints`` when it exists,
    else ``train_dir`` itself (a user may name the checkpoints folder directly)."""
    root = Path(train_dir) / "checkpoints"
    return root if root.is_dir() else Path(train_dir)


def latent_cache(train_dir: Path) -> Path:
    """``train_dir/latent_cache.safetensors``: a ``train --autoencoder`` run's encoded training
    and val latents (posterior mean and std per image), keyed by autoencoder and data."""
    return Path(train_dir) / "latent_cache.safetensors"


def ema_snapshots_root(train_dir: Path) -> Path:
    """``train_dir/ema_snapshots``: the post-hoc EMA snapshots of a ``--ema posthoc`` run."""
    return Path(train_dir) / "ema_snapshots"


def ema_snapshot_file(train_dir: Path, step: int) -> Path:
    """``train_dir/ema_snapshots/step-NNNNNNN.safetensors``: the post-hoc EMA profiles after
    ``step`` optimizer steps."""
    return ema_snapshots_root(train_dir) / f"{checkpoint_name(step)}.safetensors"


def ema_snapshot_step(path: Path) -> int | None:
    """The step of a snapshot file ``step-NNNNNNN.safetensors``, or None when it is not one."""
    path = Path(path)
    return checkpoint_step(path.stem) if path.suffix == ".safetensors" else None


def ema_row_name(step: int, sigma_rel: float | None) -> str:
    """The name of one ``ema-sweep`` row (its checkpoint and samples folder):
    ``step-NNNNNNN-sigma_rel-0.100``, or ``step-NNNNNNN-classic`` for the classic EMA."""
    length = "classic" if sigma_rel is None else f"sigma_rel-{sigma_rel:.3f}"
    return f"{checkpoint_name(step)}-{length}"


def sweep_samples(sweep_dir: Path, row: str) -> Path:
    """``sweep_dir/samples/ROW``: the images one row of a sweep sampled (``fid_sweep/samples/
    step-NNNNNNN`` per checkpoint, ``sampler-sweep OUT/samples/NAME-STEPS`` per sampler)."""
    return Path(sweep_dir) / "samples" / row


@dataclass(frozen=True)
class GeneratorLayout:
    """The folders of one generator of a run: its training, checkpoint sweep and choice.

    Args:
        root: the run folder.
        name: the generator's name; None for a run's one unnamed generator, whose folders are
            the run's own (``train/``, ``fid_sweep/``, ``checkpoints.json``).
    """

    root: Path
    name: str | None = None

    @property
    def home(self) -> Path:
        """``generators/NAME``, or the run folder itself for the unnamed generator."""
        return self.root if self.name is None else self.root / "generators" / self.name

    @property
    def train(self) -> Path:
        return self.home / "train"

    @property
    def losses(self) -> Path:
        return self.train / "losses.csv"

    @property
    def loss_curves(self) -> Path:
        return self.train / "loss_curves.png"

    @property
    def throughput(self) -> Path:
        """``train/throughput.csv``: images/s, MFU and peak memory per checkpoint (none in a
        run from before it)."""
        return self.train / "throughput.csv"

    def checkpoint(self, step: int) -> Path:
        return checkpoint_folder(self.train, step)

    @property
    def fid_sweep(self) -> Path:
        return self.home / "fid_sweep"

    @property
    def fid(self) -> Path:
        """``fid_sweep/fid.csv``: FID per checkpoint."""
        return self.fid_sweep / "fid.csv"

    def fid_samples_of(self, step: int) -> Path:
        """``fid_sweep/samples/step-NNNNNNN``: the images the sweep scored for one checkpoint."""
        return sweep_samples(self.fid_sweep, checkpoint_name(step))

    @property
    def choice(self) -> Path:
        """``checkpoints.json``: the checkpoints chosen for sampling, with reasons."""
        return self.home / "checkpoints.json"

    @property
    def ema_sweep(self) -> Path:
        """``ema_sweep/``: FID/KID of post-hoc EMA lengths (``radsynth ema-sweep``)."""
        return self.home / "ema_sweep"

    @property
    def ema_sweep_csv(self) -> Path:
        """``ema_sweep/ema_sweep.csv``: one row per (checkpoint step, EMA length)."""
        return self.ema_sweep / "ema_sweep.csv"

    def set_of(self, step: int) -> SyntheticSet:
        """The synthetic set this generator's checkpoint ``step`` samples."""
        return SyntheticSet(self.name, step)


@dataclass(frozen=True)
class RunLayout:
    """Every path of one run folder.

    Args:
        root: the run folder.
    """

    root: Path

    # Pipeline bookkeeping.
    @property
    def state(self) -> Path:
        """``pipeline.json``: the cache keys of the finished steps."""
        return self.root / "pipeline.json"

    @property
    def lock(self) -> Path:
        """``pipeline.lock``: held by the one ``radsynth run`` working in this folder."""
        return self.root / "pipeline.lock"

    @property
    def hash_cache(self) -> Path:
        """Content digests of the folders from outside the run (the ``source:`` images)."""
        return self.root / "input_hashes.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    # Data.
    @property
    def phantoms(self) -> Path:
        return self.root / "phantoms"

    @property
    def phantom_images(self) -> Path:
        return self.phantoms / "images"

    @property
    def data(self) -> Path:
        """Ingest's output: ``train/``, ``val/``, ``test/``, ``manifest.csv``."""
        return self.root / "data"

    def split(self, name: str) -> Path:
        """One split of the ingested images: ``data/train``, ``data/val`` or ``data/test``."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"no split {name!r}; splits: train, val, test")
        return self.data / name

    @property
    def data_manifest(self) -> Path:
        return self.data / "manifest.csv"

    @property
    def data_review(self) -> Path:
        """``data/review.csv``: the films ingest kept out because their polarity or rotation is
        uncertain (decided by ``radsynth review --ingest``)."""
        return self.data / "review.csv"

    # Generators: training, the checkpoint sweep and the choice.
    def generator(self, name: str | None = None) -> GeneratorLayout:
        """One generator's folders (:class:`GeneratorLayout`); None: the unnamed generator's."""
        return GeneratorLayout(self.root, name)

    @property
    def generators(self) -> Path:
        """``generators/``: one folder per named generator."""
        return self.root / "generators"

    def generator_names(self) -> list[str | None]:
        """The generators this run folder holds: None for the unnamed one (a ``train/`` or
        ``checkpoints.json`` at the top), then each folder under ``generators/``, sorted."""
        unnamed = self.generator(None)
        names: list[str | None] = (
            [None] if unnamed.train.is_dir() or unnamed.choice.is_file() else []
        )
        if self.generators.is_dir():
            names += sorted(p.name for p in self.generators.iterdir() if p.is_dir())
        return names

    # Samples and what becomes of them.
    @property
    def samples(self) -> Path:
        return self.root / "samples"

    def samples_of(self, synthetic: SyntheticSet) -> Path:
        """``samples/[NAME/]step-NNNNNNN``: one chosen set's samples, as generated."""
        return self.samples / synthetic.name

    @property
    def samples_unused(self) -> Path:
        return self.root / "samples-unused"

    @property
    def oriented(self) -> Path:
        return self.root / "oriented"

    @property
    def orientation(self) -> Path:
        """``oriented/orientation.csv``: which samples orient flipped."""
        return self.oriented / "orientation.csv"

    @property
    def screen(self) -> Path:
        return self.root / "screen"

    @property
    def screen_table(self) -> Path:
        """``screen/screen.csv``: every screened image's score and flag."""
        return self.screen / "screen.csv"

    @property
    def screen_table_s1(self) -> Path:
        """``screen/table_s1.csv``: generated, excluded and final counts by the screen alone."""
        return self.screen / "table_s1.csv"

    @property
    def kept_as_generated(self) -> Path:
        return self.root / "kept_as_generated"

    def kept_as_generated_of(self, synthetic: SyntheticSet) -> Path:
        return self.kept_as_generated / synthetic.name

    def sample_meta(self, synthetic: SyntheticSet) -> Path:
        """``samples/[NAME/]step-NNNNNNN/meta``: one JSON sidecar per sampled image."""
        return self.samples_of(synthetic) / "meta"

    def inside(self, relative: str | Path) -> Path:
        """A folder the user names relative to the run folder (e.g. fid_sweep's ``real``)."""
        return self.root / relative

    @property
    def audit(self) -> Path:
        return self.root / "audit"

    @property
    def audit_neighbours(self) -> Path:
        """``audit/neighbours.csv``: every audited image's nearest training image."""
        return self.audit / "neighbours.csv"

    @property
    def audit_pairs(self) -> Path:
        """``audit/pairs.csv``: the closest pairs, ranked."""
        return self.audit / "pairs.csv"

    @property
    def keep(self) -> Path:
        """``keep/``: each screened image's fate (images.csv) and Table S1."""
        return self.root / "keep"

    @property
    def fates_record(self) -> Path:
        """``keep/images.csv``: every screened image's fate (:mod:`radsynth.fates.records`)."""
        return self.keep / "images.csv"

    @property
    def fates_table(self) -> Path:
        """``keep/table_s1.csv``: Table S1 of those fates, per checkpoint."""
        return self.keep / "table_s1.csv"

    @property
    def kept(self) -> Path:
        """``kept/step-NNNNNNN``: the kept images, oriented, that readers see."""
        return self.root / "kept"

    def kept_of(self, synthetic: SyntheticSet) -> Path:
        return self.kept / synthetic.name

    @property
    def review(self) -> Path:
        """``review/``: the review page's decisions on the screen's flags and audit pairs."""
        return self.root / "review"

    @property
    def screen_decisions(self) -> Path:
        """``review/screen_decisions.csv``: reviewers' decisions on the screen's flags."""
        return self.review / "screen_decisions.csv"

    @property
    def audit_adjudication(self) -> Path:
        """``review/audit_adjudication.csv``: reviewers' verdicts on the audit's pairs."""
        return self.review / "audit_adjudication.csv"

    @property
    def ingest_decisions(self) -> Path:
        """``review/review_decisions.csv``: reviewers' decisions on the films ingest listed in
        ``data/review.csv``; the next ingest brings those films back as decided."""
        return self.review / "review_decisions.csv"

    # Downstream.
    @property
    def utility(self) -> Path:
        return self.root / "utility"

    @property
    def compare(self) -> Path:
        """``compare/``: the chosen sets scored side by side against the test split."""
        return self.root / "compare"

    @property
    def comparison_csv(self) -> Path:
        """``compare/generators.csv``: FID/KID (with CI)/precision/recall per set and class."""
        return self.compare / "generators.csv"

    @property
    def real_oriented(self) -> Path:
        return self.root / "real_oriented"

    @property
    def study(self) -> Path:
        return self.root / "study"

    @property
    def study_export(self) -> Path:
        return self.study / "export.csv"

    @property
    def simulated(self) -> Path:
        """Marker: the study was answered by simulated raters."""
        return self.study / "simulated.json"

    @property
    def stats(self) -> Path:
        return self.root / "stats"

    @property
    def stats_json(self) -> Path:
        return self.stats / "stats.json"

    @property
    def stats_mrmc(self) -> Path:
        """The study's MRMC ROC analysis, written by ``radsynth stats`` beside stats.json."""
        return self.stats / "mrmc.json"

    @property
    def release(self) -> Path:
        return self.root / "release"

    @property
    def release_card(self) -> Path:
        """``release/README.md``: the released dataset's card."""
        return self.release / "README.md"

    @property
    def release_table_s1(self) -> Path:
        """``release/table_s1.csv``: Table S1 of the released images."""
        return self.release / "table_s1.csv"
