"""Sampling: samplers over a VE-form denoiser, the ``sample`` stage and its benchmark (the
sampler sweep lives in :mod:`radsynth.evaluation`)."""
