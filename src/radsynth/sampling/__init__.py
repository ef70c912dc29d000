"""Sampling: samplers over a VE-form denoiser, the ``sample`` stage, sweeps, benchmarks."""
