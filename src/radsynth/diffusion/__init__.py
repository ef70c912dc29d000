"""Forward-process math of DDPMs: noise schedules, ``q_sample`` and training targets."""
