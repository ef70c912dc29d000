"""Benchmarks that span several stages: the GPU suite (``radsynth bench gpu``) times training
and sampling together. It sits above ``training`` and ``sampling``, whose own benchmarks it
calls, and above ``hardware``, which they all use. ``radsynth bench polarity``
(:mod:`radsynth.bench.polarity`) measures ingest's film checks on planted films."""
