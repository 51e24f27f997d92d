"""emovox listen: a file played at real time, a line per segment as it happens, the summary
on Ctrl-C; the microphone's missing extra said plainly."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from ..conftest import speechlike

pytestmark = pytest.mark.slow  # the file's tier: real-time playback (tests/README.md)


def _talk(path, seconds: float = 14.0):
    rng = np.random.default_rng(0)
    parts, n = [], 0
    while n < seconds * 16000:
        parts += [speechlike(3.0, seed=len(parts)), 0.001 * rng.standard_normal(16000)]
        n += 4 * 16000
    sf.write(path, np.concatenate(parts).astype(np.float32)[: int(seconds * 16000)], 16000)
    return path


def test_listen_prints_segments_as_they_happen_and_the_summary_on_ctrl_c(tmp_path):
    talk = _talk(tmp_path / "talk.wav")
    cmd = [sys.executable, "-m", "emovox.cli", "listen", "--input", str(talk)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started, lines = time.monotonic(), []
    while len(lines) < 2:  # two segments, each printed as it happens
        lines.append(proc.stdout.readline())
        assert lines[-1], proc.stderr.read()
    heard = time.monotonic() - started
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert heard < 14.0  # before the file's end: live, not after the fact
    assert all("\t" in line and "arousal" in line for line in lines)
    assert out.strip().splitlines()[-1].startswith("summary: ")


def test_listen_to_a_file_as_jsonl_ends_with_the_result(tmp_path):
    talk = _talk(tmp_path / "talk.wav", 9.0)
    cmd = ["listen", "--input", str(talk), "--speed", "0", "--format", "jsonl"]
    out = subprocess.run([sys.executable, "-m", "emovox.cli", *cmd], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    import json

    said = [json.loads(line) for line in out.stdout.splitlines()]
    assert said[-1]["type"] == "result" and said[-1]["result"]["duration"] == 9.0
    assert {"speech_started", "segment"} <= {s["type"] for s in said}


def test_listen_to_the_microphone_says_what_to_install(tmp_path):
    blocker = tmp_path / "sounddevice.py"  # as if the extra were not installed
    blocker.write_text("raise ImportError('no sounddevice')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-m", "emovox.cli", "listen"], capture_output=True,
                         text=True, env=env)  # fmt: skip
    assert out.returncode == 2 and "pip install 'emovox[live]'" in out.stderr
    assert out.stdout == ""  # no summary of nothing
