"""``emovox batch`` on real Ray: the same answers as ``emovox predict``, Parquet written as it
goes, resumable without a row twice, bad files as rows, a two-node cluster on localhost that
loses a node's workers mid-run, a clear message without Ray, a flat planner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from emovox.batch import output
from emovox.infer import prior
from emovox.infer.config import AnalysisConfig

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONWARNINGS": "ignore"}


def _emovox(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "emovox.cli", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV, **kw)
    if check and done.returncode not in (0, 1):
        raise AssertionError(f"{' '.join(args)} -> {done.returncode}\n{done.stderr[-3000:]}")
    return done


def _recording(rows, path: Path, seed: int) -> Path:
    from emovox.data import demo

    sf.write(path, demo.build(rows, seed=seed).wave, 16000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def archive(ravdess_manifest, tmp_path_factory) -> Path:
    """Clips of two actors, a two-minute recording, a bad file and a manifest over them."""
    root = tmp_path_factory.mktemp("archive")
    rows = [r for r in ravdess_manifest.rows if r.speaker[-2:] in ("03", "04")][:40]
    (root / "clips").mkdir()
    for r in rows:
        (root / "clips" / Path(r.path).name).symlink_to(r.path)
    long_rows = [r for r in ravdess_manifest.rows if r.speaker[-2:] == "05"][:30]
    _recording(long_rows, root / "clips" / "call.wav", seed=1)
    (root / "clips" / "broken.wav").write_bytes(b"RIFF....not audio at all")
    return root


def _results(out: Path):
    return output.read(out).to_pylist()


def test_batch_answers_as_predict_does_and_a_rerun_writes_nothing(archive, tmp_path):
    out = tmp_path / "out"
    manifest = tmp_path / "m.csv"
    files = sorted(str(p) for p in (archive / "clips").iterdir())
    manifest.write_text(
        "path,speaker\n" + "".join(f"{p},spk{k % 3}\n" for k, p in enumerate(files))
    )
    done = _emovox("batch", str(manifest), "--out", str(out), "--workers", "2", "--segments",
                   "--batch-size", "8", "--no-progress")  # fmt: skip
    rows = {r["path"]: r for r in _results(out)}
    assert sorted(rows) == files  # every input once, the bad one included
    bad = rows[str(archive / "clips" / "broken.wav")]
    assert bad["status"] == "failed" and "not a readable audio file" in bad["error"]
    assert {r["speaker"] for r in rows.values()} == {"spk0", "spk1", "spk2"}  # carried over
    # the same answers as `emovox predict --format jsonl`
    pred = _emovox("predict", *files, "--format", "jsonl", "--no-progress").stdout
    for line in pred.splitlines():
        want = json.loads(line)
        got = rows[want["path"]]
        if want["error"]:
            assert got["error"] == want["error"]
            continue
        assert got["emotion"] == want["emotion"] and got["reason"] == want["reason"]
        probs = np.array([got[f"p_{k}"] for k in want["probabilities"]])
        assert np.abs(probs - np.array(list(want["probabilities"].values()))).max() < 1e-4
    segs = output.read(out, table=output.SEGMENTS).to_pylist()
    call = [s for s in segs if s["path"].endswith("call.wav")]
    assert len(call) > 3 and all(s["end"] > s["start"] for s in call)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["written"] == len(files) and summary["failed"] == 1
    assert "1 failed" in done.stderr and summary["hours_of_audio"] > 0
    # a rerun skips everything and writes nothing; a changed file is analysed again, once
    parts = {p: p.stat().st_mtime_ns for p in output.parts(out)}
    _emovox("batch", str(manifest), "--out", str(out), "--no-progress")
    assert {p: p.stat().st_mtime_ns for p in output.parts(out)} == parts
    again = json.loads((out / "summary.json").read_text())
    assert again["written"] == 0 and again["skipped"] == len(files)
    assert again["total_rows"] == len(files)
    # --dry-run lists what is left, with the throughput the folder measured
    changed = archive / "clips" / "broken.wav"
    changed.write_bytes(b"RIFF....still not audio")
    dry = _emovox("batch", str(manifest), "--out", str(out), "--dry-run")
    assert dry.stdout.splitlines() == [f"{changed}\t0.00"]
    assert "1 inputs to analyse" in dry.stderr and "h of audio per hour measured" in dry.stderr
    _emovox("batch", str(manifest), "--out", str(out), "--no-progress")
    paths = [r["path"] for r in _results(out)]
    assert paths.count(str(changed)) == 2 and len(set(paths)) == len(files)


def test_without_ray_the_command_says_how_to_install_it(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None; from emovox.cli import main; "
        f"sys.exit(main(['batch', {str(tmp_path)!r}, '--out', {str(tmp_path / 'o')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert "pip install 'emovox[ray]'" in done.stderr and "Traceback" not in done.stderr


def test_a_manifest_of_100k_rows_is_planned_with_flat_memory(ravdess_manifest, tmp_path):
    """The planner streams the manifest: its peak memory (the child process's own) barely
    moves from 10,000 rows to 100,000 (one real file under 100,000 names)."""
    src = ravdess_manifest.rows[0].path
    links = tmp_path / "links"
    links.mkdir()

    def peak_kb(n: int) -> int:
        manifest = tmp_path / f"m{n}.csv"
        with open(manifest, "w") as f:
            f.write("path,id\n")
            for k in range(n):
                link = links / f"{k}.flac"
                if not link.exists():
                    link.symlink_to(src)
                f.write(f"{link},{k}\n")
        code = (
            "import resource, subprocess, sys; "
            f"r = subprocess.run([sys.executable, '-m', 'emovox.cli', 'batch', {str(manifest)!r}, "
            f"'--out', {str(tmp_path / 'o')!r}, '--dry-run'], stdout=subprocess.PIPE, "
            "stderr=subprocess.PIPE, text=True); "
            "print(r.stderr.splitlines()[-1]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        said, kb = done.stdout.splitlines()
        assert said.startswith(f"{n} inputs to analyse"), done.stdout + done.stderr
        return int(kb)

    small, large = peak_kb(10_000), peak_kb(100_000)
    assert large - small < 20_000, (small, large)  # KiB


@pytest.fixture
def cluster(tmp_path):
    """A head node and a second node, one CPU each, on localhost; stopped whatever happens."""
    port = 6390 + os.getpid() % 100
    temp = Path("/tmp") / f"ray-{os.getpid()}"
    ray = [sys.executable, "-m", "ray.scripts.scripts"]
    try:
        subprocess.run([*ray, "start", "--head", f"--port={port}", "--num-cpus=1",
                        "--include-dashboard=false", f"--temp-dir={temp}", "--disable-usage-stats"],
                       check=True, capture_output=True, env=ENV)  # fmt: skip
        subprocess.run([*ray, "start", f"--address=127.0.0.1:{port}", "--num-cpus=1",
                        "--resources={\"second\": 1}", "--disable-usage-stats"],
                       check=True, capture_output=True, env=ENV)  # fmt: skip
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([*ray, "stop", "--force"], capture_output=True, env=ENV)


def _second_node_workers() -> dict[int, str]:
    """The worker processes the second node's raylet started: pid -> command line."""
    raylets = subprocess.run(["pgrep", "-f", "raylet/raylet"], capture_output=True, text=True)
    pids = {}
    for raylet in raylets.stdout.split():
        cmd = Path(f"/proc/{raylet}/cmdline").read_bytes().decode(errors="replace")
        if "second" not in cmd:
            continue
        kids = subprocess.run(["pgrep", "-P", raylet], capture_output=True, text=True)
        for pid in kids.stdout.split():
            name = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            if "default_worker" in name or name.startswith("ray::"):
                pids[int(pid)] = name
    return pids


def test_a_two_node_cluster_finishes_when_one_nodes_workers_are_killed(
    cluster, ravdess_manifest, tmp_path
):
    rows = [r for r in ravdess_manifest.rows if r.speaker[-2:] in ("07", "08", "09", "10", "11")]
    files = [r.path for r in rows[:300]]
    files[100:100] = [_recording(rows[300 + 40 * k : 340 + 40 * k], tmp_path / f"r{k}.wav", k)
                      for k in range(2)]  # fmt: skip
    listing = tmp_path / "inputs.txt"
    listing.write_text("\n".join(map(str, files)) + "\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "emovox.cli", "batch", f"@{listing}", "--out", str(out),
           "--address", cluster, "--batch-size", "8", "--no-progress"]  # fmt: skip
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    deadline = time.time() + 300
    killed: dict[int, str] = {}
    while time.time() < deadline and job.poll() is None:  # mid-run: a part written, and
        killed = _second_node_workers()  # a model actor working on the second node
        if output.parts(out) and any("Analyse" in name for name in killed.values()):
            break
        time.sleep(0.2)
    assert job.poll() is None, "nothing to kill: the job ended or never started"
    assert any("Analyse" in name for name in killed.values()), killed  # a model actor dies
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    _, err = job.communicate(timeout=900)
    assert job.returncode == 0, err.decode()[-3000:]
    paths = [r["path"] for r in _results(out)]
    assert sorted(paths) == sorted(map(str, files))  # every input exactly once
    # the local path gives the same answers
    local = tmp_path / "local"
    _emovox("batch", f"@{listing}", "--out", str(local), "--workers", "1", "--no-progress",
            "--batch-size", "8")  # fmt: skip
    a = {r["path"]: r for r in _results(out)}
    b = {r["path"]: r for r in _results(local)}
    assert a.keys() == b.keys()
    for path, r in a.items():
        assert r["emotion"] == b[path]["emotion"]
        assert abs((r["confidence"] or 0) - (b[path]["confidence"] or 0)) < 1e-4
    before = {p.name for p in output.parts(out)}
    rerun = subprocess.run(cmd, capture_output=True, env=ENV, timeout=600)
    assert rerun.returncode == 0 and {p.name for p in output.parts(out)} == before
    assert json.loads((out / "summary.json").read_text())["written"] == 0
    assert pq.read_table(output.parts(out)[0]).num_rows > 0


def test_adapt_to_a_column_reads_each_speaker_against_its_own_voice(archive, tmp_path):
    import emovox

    files = sorted(str(p) for p in (archive / "clips").glob("*.flac"))[:24]
    # group a: exactly the clips a group's prior needs; b: too few even to adapt
    keys = ["a" if k <= prior.MIN_CLIPS else "b" for k in range(len(files))]
    keys[0] = ""  # an empty cell: read alone
    files.append(str(archive / "clips" / "broken.wav"))
    keys.append("a")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,spk\n" + "".join(f"{p},{k}\n" for p, k in zip(files, keys, strict=True))
    )
    out = tmp_path / "out"
    # a column no manifest has is refused, naming the columns there are
    bad = _emovox("batch", str(manifest), "--out", str(out), "--adapt", "column:who", check=False)
    assert bad.returncode == 2 and "no such column" in bad.stderr and "spk" in bad.stderr
    alone = _emovox("batch", str(manifest), "--out", str(out), "--prior", "group", check=False)
    assert alone.returncode == 2 and "give the groups with --adapt folder" in alone.stderr
    _emovox("batch", str(manifest), "--out", str(out), "--adapt", "column:spk",
            "--prior", "group", "--workers", "2", "--no-progress")  # fmt: skip
    rows = {r["path"]: r for r in _results(out)}
    assert sorted(rows) == sorted(files)
    # the same answers as the Python API given the same groups, each group's prior too
    model = emovox.load_model(config=AnalysisConfig(prior="group"))
    with pytest.warns(UserWarning, match="fewer than 10 clips"):
        want = model.predict(files, groups=[k or None for k in keys])
    assert [w.prior is not None for w in want] == [k == "a" for k in keys[:-1]] + [False]
    for w, key in zip(want, keys, strict=True):
        got = rows[w.path]
        if w.error:
            assert got["status"] == "failed" and "not a readable audio file" in got["error"]
            continue
        assert got["emotion"] == w.emotion
        probs = np.array([got[f"p_{k}"] for k in w.probabilities])
        assert np.abs(probs - np.array(list(w.probabilities.values()))).max() < 1e-4
        assert got["adapted"] == w.adapted and bool(got["adapted"]) == bool(key)
        assert [got[f"prior_{k}"] for k in model.labels] == [(w.prior or {}).get(k) for k in
                                                            model.labels]  # fmt: skip
    plain = {r.path: r for r in model.predict(files)}
    assert any(
        abs(rows[p]["p_angry"] - plain[p].probabilities["angry"]) > 1e-3 for p in files[1:-1]
    )  # adapting changed the answers
    # a rerun skips every group; a group with a changed file is decided again, whole
    parts = set(output.parts(out))
    _emovox("batch", str(manifest), "--out", str(out), "--adapt", "column:spk", "--no-progress")
    assert set(output.parts(out)) == parts
    os.utime(files[1], ns=(time.time_ns(), time.time_ns()))
    old = _emovox(
        "batch", str(manifest), "--out", str(out), "--adapt-by", "column", "spk", "--no-progress"
    )  # fmt: skip  (0.5's spelling: the same, with a warning)
    assert "--adapt-by and --no-adapt are now --adapt TO" in old.stderr
    new = [r for r in _results(out) if r["run_id"] != rows[files[1]]["run_id"]]
    assert sorted(r["path"] for r in new) == sorted(
        p for p, k in zip(files, keys, strict=True) if k == "a"
    )
