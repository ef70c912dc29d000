"""Evaluation: sample N images from a checkpoint with given settings, then score them against a
real set (FID, KID, precision/recall). Written once in :mod:`radsynth.evaluation.score`; the
checkpoint sweep (``radsynth fid-sweep``, :mod:`radsynth.evaluation.checkpoints`) and the sampler
sweep (``radsynth sampler-sweep``, :mod:`radsynth.evaluation.samplers`) are two loops over it,
sharing their config fields, their resumable tables (:mod:`radsynth.evaluation.table`) and their
figures (:mod:`radsynth.evaluation.plots`). This package joins ``sampling`` and ``metrics``, which
do not import each other."""
