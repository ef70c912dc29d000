"""Training a DDPM: config and presets, data order, EMA, checkpoints, the training loop, bench."""
