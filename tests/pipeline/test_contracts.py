"""The pipeline's contracts: every YAML section is checked before any stage runs, and one run at
a time holds a run folder (a lock file, tested with real second processes)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from radsynth.errors import RadsynthError
from radsynth.layout import RunLayout
from radsynth.pipeline.demo import demo_spec
from radsynth.pipeline.lock import run_lock
from radsynth.pipeline.run import run_pipeline
from radsynth.pipeline.spec import parse_spec

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src")}


@pytest.mark.parametrize(
    ("section", "key", "why"),
    [
        ("train", "totl_steps", "unknown key(s) totl_steps; valid keys: "),
        ("report", "n_pair", "unknown key(s) n_pair; valid keys: "),  # the last stage
        ("screen", "out", "out is set by the pipeline"),
        ("sample", "steps", "'steps'"),  # a bad value
    ],
)
def test_a_bad_key_in_any_section_fails_before_anything_runs(
    tmp_path: Path, section: str, key: str, why: str
) -> None:
    data = demo_spec("tiny", 0)
    data.setdefault(section, {})[key] = "not-a-number" if key == "steps" else 3
    run = tmp_path / "run"
    with pytest.raises(RadsynthError) as err:
        run_pipeline(parse_spec(data, base=tmp_path, run_dir=run), echo=lambda _: None)
    message = str(err.value)
    assert "\n" not in message
    assert f"pipeline section '{section}'" in message and why in message, message
    if "valid keys" in why:  # the valid keys are the section's own, not the folders it is given
        valid = message.split("valid keys: ")[1].split(", ")
        assert key not in valid and "out" not in valid and len(valid) > 2
    assert not run.exists()  # nothing was written


def _hold_lock(lock: Path) -> subprocess.Popen:
    """A second process that takes the lock and keeps it until its stdin closes."""
    code = (
        "import sys; from pathlib import Path; from radsynth.pipeline.lock import run_lock\n"
        f"with run_lock(Path({str(lock)!r})):\n"
        "    print('held', flush=True); sys.stdin.read()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=ENV, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    layout = RunLayout(run)
    holder = _hold_lock(layout.lock)
    try:
        # In this process ...
        who = f"in use by another radsynth run \\(process {holder.pid} on {socket.gethostname()}\\)"
        with pytest.raises(RadsynthError, match=who), run_lock(layout.lock):
            pass
        # ... and through the real command, as one line, before any stage ran.
        pipeline = tmp_path / "tiny.yaml"
        pipeline.write_text(yaml.safe_dump(demo_spec("tiny", 0)))
        cmd = [sys.executable, "-m", "radsynth.cli", "run", str(pipeline), "--run-dir", str(run)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "in use by another radsynth run" in proc.stderr
        assert sorted(p.name for p in run.iterdir()) == ["pipeline.lock"]
    finally:
        holder.communicate("")  # releases the lock
    assert holder.returncode == 0 and not layout.lock.exists()
    with run_lock(layout.lock):  # free again
        assert json.loads(layout.lock.read_text())["pid"] == os.getpid()
    assert not layout.lock.exists()


def test_a_lock_left_by_a_dead_process_is_taken_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = RunLayout(tmp_path).lock
    code = (
        "import json, os, socket, sys\n"
        "open(sys.argv[1], 'w').write(json.dumps({'pid': os.getpid(), "
        "'host': socket.gethostname()}))\n"
    )  # a run that was killed: its lock stays behind
    dead = subprocess.run([sys.executable, "-c", code, str(lock)], env=ENV, check=True)
    assert dead.returncode == 0 and lock.is_file()
    with caplog.at_level(logging.WARNING), run_lock(lock):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert "no longer running" in caplog.text
    assert not lock.exists()


def test_a_lock_from_another_host_is_never_taken_over(tmp_path: Path) -> None:
    lock = RunLayout(tmp_path).lock
    lock.write_text(json.dumps({"pid": 1, "host": "another-host.invalid"}))
    with pytest.raises(RadsynthError, match="process 1 on another-host.invalid"), run_lock(lock):
        pass
    assert lock.is_file()  # left alone
