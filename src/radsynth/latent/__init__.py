"""Latent diffusion, first stage: a 1-channel KL autoencoder (Rombach et al. 2022) for films.

``radsynth train-autoencoder DATA OUT`` trains it (:mod:`radsynth.latent.train`), and
:func:`radsynth.latent.checkpoint.load_autoencoder` hands it to a latent diffusion model.
"""
