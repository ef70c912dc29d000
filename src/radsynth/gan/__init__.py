"""The GAN generator family (R3GAN, Huang et al. 2024): config, networks, loss, train, sample."""
