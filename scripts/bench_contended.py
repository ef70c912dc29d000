"""Training throughput alone and beside a competing process, before and after the thread setup.

``before``: torch's defaults (one OpenMP thread per core of the host, the runtime's default
spin-then-sleep wait), i.e. the training benchmark called without the CLI's
:func:`radsynth.hardware.threads.prepare_cpu_runtime`. ``after``: ``radsynth bench train`` as
users run it (threads from the affinity mask, ``OMP_WAIT_POLICY=PASSIVE``). The competitor is a
second torch process doing float32 matrix products on every core, as another user's job would.
Each configuration is measured ``--repeats`` times, alternating, and printed as JSON lines.

    python scripts/bench_contended.py --preset demo --steps 30 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

BEFORE = (
    "import sys; from radsynth.config import build_config;"
    "from radsynth.training.bench import BenchTrainConfig, measure_train;"
    "import json; print(json.dumps(measure_train(build_config(BenchTrainConfig, "
    "json.loads(sys.argv[1])))))"
)
COMPETITOR = "import torch\na = torch.randn(512, 512)\nwhile True:\n    a = (a @ a).clamp_(-1, 1)\n"


def run_once(variant: str, fields: dict) -> float:
    """images/s of one training benchmark run, in a fresh process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    if variant == "before":
        cmd = [sys.executable, "-c", BEFORE, json.dumps(fields)]
    else:
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in fields.items()]
        cmd = [sys.executable, "-m", "radsynth.cli", "bench", "train", *flags]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out[out.index("{") : out.rindex("}") + 1])["images_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    fields = {"preset": args.preset, "steps": args.steps, "warmup_steps": 3}
    for contended in (False, True):
        competitor = None
        if contended:
            competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR])
            time.sleep(2)  # let it start its threads
        try:
            for repeat in range(args.repeats):
                for variant in ("before", "after"):
                    rate = run_once(variant, fields)
                    print(json.dumps({"variant": variant, "competing_process": contended,
                                      "repeat": repeat, "images_per_s": round(rate, 2)}),
                          flush=True)  # fmt: skip
        finally:
            if competitor is not None:
                competitor.kill()
                competitor.wait()


if __name__ == "__main__":
    main()
