"""Denoising networks: a small config dataclass that builds a diffusers ``UNet2DModel``."""
