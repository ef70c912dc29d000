"""Training beside a competing process: started before the run, and started mid-run.

Both cases run ``radsynth train --preset demo`` as users run it (the CLI's thread setup, and
the loop's thread re-decision of ``radsynth.hardware.contention``) on the same ingested data,
beside one competitor: a torch process with 2 threads doing float32 matrix products, as another
user's job would.

(a) the competitor starts first, then the run;
(b) the run starts on the machine as it is, and the competitor starts once the run has written
    its first row of ``train/throughput.csv`` (the first checkpoint).

Each run's images/s come from its ``throughput.csv`` (one row per checkpoint, saving and
validation left out): (a) averages every row but the first (warm-up); (b) the rows whose whole
span came after the competitor started. Printed: one JSON line per case, the ratio b / a (the
goal is at least 0.8), the thread changes the run logged, and ``uptime``.

    python scripts/bench_contended.py --steps 400 --every 40
    python scripts/bench_contended.py --data runs/cxr/data --steps 400   # your own ingest

Without ``--data`` it draws 64 phantoms at 64 px and ingests them into the work folder first.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMPETITOR = (
    "import torch\ntorch.set_num_threads(2)\na = torch.randn(512, 512)\n"
    "while True:\n    a = (a @ a).clamp_(-1, 1)\n"
)
CLI = [sys.executable, "-m", "radsynth.cli"]
#: The CLI decides the OpenMP settings itself, as for a user who set none.
ENV = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}


def make_data(work: Path) -> Path:
    """64 phantoms at 64 px, ingested: a data folder for the demo preset."""
    phantoms, data = work / "phantoms", work / "data"
    draw = ["phantoms", str(phantoms), "--n", "64", "--size-px", "64", "--contact-sheet-n", "0"]
    subprocess.run([*CLI, *draw], check=True, capture_output=True, env=ENV)
    ingest = ["ingest", str(phantoms), str(data), "--size-px", "64"]
    subprocess.run([*CLI, *ingest], check=True, capture_output=True, env=ENV)
    return data


def rates(out: Path) -> list[float]:
    """images/s of each row of ``out/throughput.csv`` so far (none before the first row)."""
    path = out / "throughput.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [float(r["images_per_s"]) for r in csv.DictReader(fh)]


def start_competitor() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", COMPETITOR], env=ENV)


def run_case(case: str, data: Path, out: Path, steps: int, every: int, preset: str) -> dict:
    """Train with the competitor started before (``a``) or after the first checkpoint (``b``);
    returns the case's images/s after the competitor is running, and the run's thread log."""
    train = [*CLI, "train", str(data), str(out), "--preset", preset]
    train += ["--total-steps", str(steps), "--checkpoint-every-steps", str(every)]
    train += ["--log-every-steps", "5"]
    log_path = out.parent / f"{case}.log"
    competitor = run = None
    rows_before = 0
    try:
        if case == "a":
            competitor = start_competitor()
            time.sleep(2)  # let it start its threads before the run looks at the load
        with open(log_path, "w") as log:
            run = subprocess.Popen(train, stdout=log, stderr=subprocess.STDOUT, env=ENV)
            while run.poll() is None:
                if competitor is None and rates(out):
                    rows_before = len(rates(out))  # rows whose span ended before it started
                    competitor = start_competitor()
                time.sleep(0.2)
    finally:  # never leave a competitor (or a run) behind, whatever stopped the script
        for proc in (competitor, run):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    if run.returncode != 0:
        raise SystemExit(f"case {case}: radsynth train failed; see {log_path}")
    every_row = rates(out)
    # (a): all rows but the warm-up; (b): rows wholly after the start (not the straddling one).
    kept = every_row[1:] if case == "a" else every_row[rows_before + 1 :]
    text = log_path.read_text()
    threads = [ln.strip() for ln in text.splitlines() if "CPU threads" in ln]
    return {
        "case": case,
        "competitor": "before the run" if case == "a" else "mid-run",
        "rows_used": len(kept),
        "images_per_s": sum(kept) / len(kept) if kept else None,
        "all_rows": [round(r, 2) for r in every_row],
        "thread_changes": threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="an ingested folder at 64 px (default: phantoms)")
    parser.add_argument("--preset", default="demo", help="train preset (tiny: 32 px data)")
    parser.add_argument("--steps", type=int, default=400, help="training steps per case")
    parser.add_argument("--every", type=int, default=40, help="steps per throughput.csv row")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the clean-up on a kill
    if args.steps < 3 * args.every:
        raise SystemExit("--steps must be at least 3 x --every (rows after the competitor)")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-contended-"))
    work.mkdir(parents=True, exist_ok=True)
    data = args.data or make_data(work)
    result = {}
    for case in ("a", "b"):
        out = work / f"train-{case}"
        result[case] = run_case(case, data, out, args.steps, args.every, args.preset)
        print(json.dumps(result[case]), flush=True)
    a, b = result["a"]["images_per_s"], result["b"]["images_per_s"]
    ratio = b / a if a and b else None
    print(json.dumps({"ratio_b_over_a": ratio, "goal": 0.8, "met": bool(ratio and ratio >= 0.8)}))
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
