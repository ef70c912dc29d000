"""Sampling: samplers over a VE-form denoiser, the ``sample`` stage, the sampler sweep, benchmarks."""
