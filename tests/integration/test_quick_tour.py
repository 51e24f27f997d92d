"""The README's quick tour, run as written: every cheap line (prediction in each form, the
exports, data inspection, the version) in a folder holding real files under the README's
names. Training lines are the training tests' and benchmarks' to run."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from emovox import audio
from emovox.data import demo

from ..media import encode

pytestmark = pytest.mark.slow  # the file's tier (tests/README.md)

ROOT = Path(__file__).resolve().parents[2]
CHEAP = ("emovox predict", "emovox data inspect", "emovox --version")


def _tour() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quick tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [re.sub(r"\s+#.*$", "", ln).strip() for ln in block.splitlines()]
    return [ln for ln in lines if ln.startswith(CHEAP) and "--model" not in ln]


def test_the_quick_tours_cheap_commands_run_as_written(ravdess_manifest, tmp_path):
    rows = [r for r in ravdess_manifest.rows if r.speaker.endswith("03") and r.emotion != "calm"]
    wave = audio.load(rows[0].path)
    sf.write(tmp_path / "clip.wav", wave, 16000)
    for name, codec, video in (("memo.m4a", "aac", False), ("call.m4a", "aac", False),
                               ("call.mp4", "aac", True)):  # fmt: skip
        encode(tmp_path / name, wave, 16000, codec, video=video)
    other = [r for r in ravdess_manifest.rows if r.speaker.endswith("04") and r.emotion != "calm"]
    turns = [r for k in range(0, 24, 3) for r in (rows[::2][k : k + 3] + other[::2][k : k + 3])]
    long = demo.build(turns, seed=1, shuffle=False).wave  # two actors taking turns
    encode(tmp_path / "meeting.webm", long, 16000, "libopus", rate=48000)
    (tmp_path / "talks").mkdir()
    (tmp_path / "a").mkdir()
    for k, r in enumerate(rows[1:3]):
        sf.write(tmp_path / "talks" / f"t{k}.flac", audio.load(r.path), 16000)
    sf.write(tmp_path / "a" / "x.ogg", wave, 16000, format="OGG")
    (tmp_path / "clips").mkdir()  # a folder of one speaker's clips, read against their voice
    for k, r in enumerate(rows[3:15]):
        sf.write(tmp_path / "clips" / f"c{k:02d}.flac", audio.load(r.path), 16000)
    (tmp_path / "archive").mkdir()  # enough clips for a folder's own prior
    for k, r in enumerate(rows[15:37]):
        (tmp_path / "archive" / f"a{k:02d}.flac").symlink_to(r.path)
    (tmp_path / "list.txt").write_text(f"{tmp_path / 'clip.wav'}\n")
    data = str(ROOT.parent / "shared" / "datasets" / "ravdess")
    bin_dir = Path(sys.executable).parent
    commands = _tour()
    assert len(commands) >= 6, commands
    for line in commands:
        cmd = line.replace("../shared/datasets/ravdess", data)
        cmd = f"{bin_dir}/{cmd}" + (" --no-progress" if "predict" in cmd and ">" not in cmd else "")
        reads_stdin = " - " in cmd or cmd.endswith(" -")
        stdin = (tmp_path / "clip.wav").read_bytes() if reads_stdin else b""
        out = subprocess.run(cmd, shell=True, cwd=tmp_path, input=stdin, capture_output=True)
        assert out.returncode == 0, (line, out.stderr.decode()[-2000:])
        assert out.stdout or ">" in cmd, line
    assert (tmp_path / "meeting.png").stat().st_size > 20000
    assert "-->" in (tmp_path / "call.srt").read_text()
