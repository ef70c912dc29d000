"""Where radsynth runs: CPU threads, the device and dtype, and the peak FLOP/s used for MFU.

Every stage and benchmark resolves its device and threads here, so that ``--device`` means the
same thing everywhere and a typo in a GPU-only branch is caught by the CPU tests.
"""
