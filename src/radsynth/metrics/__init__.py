"""Image-set metrics: FID, KID, precision/recall and their feature spaces (the sweeps that
sample and score live in :mod:`radsynth.evaluation`)."""
