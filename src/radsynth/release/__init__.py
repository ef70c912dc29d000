"""``radsynth release``: the kept synthetic images as a downloadable dataset, with per-image
provenance, checksums, a dataset card, and leak checks that refuse rather than repair.

Modules: :mod:`~radsynth.release.inputs` (where a run's parts are and their tables),
:mod:`~radsynth.release.collect` (which images go out, Table S1),
:mod:`~radsynth.release.checks` (refusals), :mod:`~radsynth.release.formats` (PNG, WebDataset
shards, DICOM), :mod:`~radsynth.release.manifest` (metadata.csv, SHA256SUMS),
:mod:`~radsynth.release.card` (README.md) and :mod:`~radsynth.release.build` (the stage).
"""
