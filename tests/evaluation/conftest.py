"""Fixtures of the evaluation tests: one tiny random checkpoint, on one CPU thread."""

from fake_runs import one_thread, tiny_ckpt

__all__ = ["one_thread", "tiny_ckpt"]
