"""Latent diffusion, first stage: a 1-channel KL autoencoder (Rombach et al. 2022) for films.

``radsynth train-autoencoder DATA OUT`` trains it (:mod:`radsynth.latent.train`). The network
lives in :mod:`radsynth.models.autoencoder` and its checkpoints in
:mod:`radsynth.training.autoencoder_checkpoint`, one floor and one package below, so that
``radsynth train --autoencoder`` (in ``training``) can load it without importing this package.
"""
