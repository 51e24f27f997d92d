"""Runs killed with SIGKILL resume to the uninterrupted run's numbers, leave no corrupt file
behind, and every model kind gives bit-identical results from the same config and seed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from emovox.store import checkpoint, integrity
from emovox.train.loop import train

from ..configs import _cfg, _tiny_encoder_cfg

pytestmark = pytest.mark.slow  # the file's tier (tests/README.md)

# A training process that SIGKILLs itself at the n-th atomic rename of the kind asked for
# (checkpoint/report files, or cache entries): the temporary file is written, the rename not.
KILLER = """
import os, signal, sys
kind, n = sys.argv[1], int(sys.argv[2])
import emovox.store.atomic, emovox.store.cache
calls = [0]
real = os.replace
def replace(src, dst):
    calls[0] += 1
    if calls[0] == n:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
class Patched:
    def __getattr__(self, name):
        return replace if name == "replace" else getattr(os, name)
target = emovox.store.atomic if kind == "file" else emovox.store.cache
target.os = Patched()
from emovox.cli.commands import main
sys.exit(main(sys.argv[3:]))
"""


def _command(cfg_file: Path, out: Path) -> list[str]:
    return ["train", "--config", str(cfg_file), "--out", str(out)]


def _env(cache: Path) -> dict:
    """The child's environment: one thread, its own cache (this process's is left alone)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "EMOVOX_CACHE": str(cache)}


def _run(
    args: list[str], cache: Path, prefix: list[str] | None = None
) -> subprocess.CompletedProcess:
    env = _env(cache)
    cmd = [sys.executable, *(prefix or ["-m", "emovox.cli"]), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _resume(cfg_file: Path, out: Path, cache: Path) -> dict:
    """What a user does after a kill: ``--resume`` once the run folder exists, else start
    again; then the run's metrics."""
    args = ["train", "--resume", str(out)] if (out / "config.json").exists() else None
    done = _run(args or _command(cfg_file, out), cache)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "metrics.json").read_text())


def _no_corrupt_files(out: Path, cache: Path) -> int:
    """Every checkpoint pair and cache entry that exists under its real name reads back whole
    (temporary files may remain; nothing reads them). Returns how many were checked."""
    checked = 0
    for meta in out.rglob("checkpoints/*.json"):
        checkpoint.load(meta.with_suffix(""))  # checksum verified
        checked += 1
    for entry in cache.rglob("*.npy"):
        np.load(entry, allow_pickle=False)
        checked += 1
    for js in out.glob("*.json"):
        json.loads(js.read_text())
        checked += 1
    return checked


def _same(a: dict, b: dict) -> bool:
    keys = ("accuracy", "uar", "macro_f1", "confusion", "per_class")
    return all(a[k] == b[k] for k in keys)


@pytest.fixture(scope="module")
def job(subset, tmp_path_factory):
    """A small CNN-LSTM run: its config file and the uninterrupted run's metrics and time."""
    tmp_path = tmp_path_factory.mktemp("job")
    cfg = _cfg(subset, tmp_path, epochs=4, cache_dir="")
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(cfg.to_dict()))
    t = time.perf_counter()
    ref = _run(_command(cfg_file, tmp_path / "ref"), tmp_path / "ref-cache")
    assert ref.returncode == 0, ref.stderr[-2000:]
    seconds = time.perf_counter() - t
    return cfg_file, json.loads((tmp_path / "ref" / "metrics.json").read_text()), seconds


def test_sigkill_at_random_times_resumes_to_the_same_numbers(job, tmp_path):
    cfg_file, ref, seconds = job
    rng = np.random.default_rng(0)
    kills = int(os.environ.get("EMOVOX_KILL_POINTS", "3"))  # more: a longer soak
    for k, delay in enumerate(rng.uniform(1.0, seconds, kills)):
        out, cache = tmp_path / f"killed{k}", tmp_path / f"cache{k}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "emovox.cli", *_command(cfg_file, out)],
            env=_env(cache),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _no_corrupt_files(out, cache)
        assert _same(_resume(cfg_file, out, cache), ref), f"kill after {delay:.1f} s"


@pytest.mark.parametrize("kind", ["file", "cache"])
def test_sigkill_inside_a_write_leaves_no_corrupt_file(job, tmp_path, kind):
    """Killed between writing a checkpoint (or cache entry) and renaming it into place."""
    cfg_file, ref, _ = job
    for n in (1, 3, 7):
        out, cache = tmp_path / f"{kind}{n}", tmp_path / f"cache-{kind}{n}"
        killed = _run([kind, str(n), *_command(cfg_file, out)], cache, prefix=["-c", KILLER])
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        _no_corrupt_files(out, cache)
        assert _same(_resume(cfg_file, out, cache), ref), f"{kind} write {n}"
        assert _no_corrupt_files(out, cache) > 0


@pytest.mark.parametrize("kind", ["cnn_lstm", "encoder", "hybrid"])
def test_same_config_and_seed_give_bit_identical_results(subset, tmp_path, kind):
    make = _cfg if kind == "cnn_lstm" else _tiny_encoder_cfg
    extra = (
        {
            "model": "hybrid",
            "model_config": {"cnn": {"channels": [8, 8, 16], "lstm_hidden": 16, "head_hidden": 16}},
        }
        if kind == "hybrid"
        else {}
    )
    runs = []
    for name in ("a", "b"):
        cfg = make(subset, tmp_path, epochs=2, cache_dir=str(tmp_path / f"cache-{name}"), **extra)
        m = train(cfg, tmp_path / name, progress=False)
        tensors, _ = checkpoint.load(tmp_path / name / "checkpoints" / "model")
        runs.append((m, tensors))
    (ma, ta), (mb, tb) = runs
    assert _same(ma, mb)
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
    assert integrity.CHECKSUM_KEY in json.loads(
        (tmp_path / "a" / "checkpoints" / "model.json").read_text()
    )
