"""Reader-study statistics: accuracy, agreement, realism tests, equivalence and plots.

Each module holds pure functions that return frozen dataclasses (or tuples of them) with fixed
fields, checked in ``tests/stats`` against R. :mod:`radsynth.stats.analysis` is the stage that
reads a study export and writes ``stats.json``. Nothing here imports torch.
"""
