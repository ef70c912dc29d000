"""The reference sampling setup shared by the sampling fixtures and tests.

It lives in its own uniquely named module: importing it as ``conftest`` picked up whichever
conftest.py pytest had imported first (tests/training's, when both folders ran together).
"""

#: Stochastic (so per-step noise is exercised), 10 denoiser calls per image.
REFERENCE = ["--sampler", "ddpm", "--steps", "10", "--no-progress"]
