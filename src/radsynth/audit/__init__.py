"""Memorization audit: embeddings of real and synthetic images, blockwise cosine nearest
neighbours to the training set, calibration on held-out real images, pair sheets."""
