"""Untrusted model folders: only safetensors + JSON are read, and what does not check out is
refused with a ModelError naming the file, by both predictors and ``emovox.load_model``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import emovox
from emovox.infer import numpy_engine, torch_engine
from emovox.store import checkpoint, integrity, runs

pytestmark = pytest.mark.fast  # the file's tier (tests/README.md)

SRC = Path(__file__).resolve().parents[2] / "src" / "emovox"


@pytest.fixture
def model(tmp_path) -> Path:
    """A copy of the bundled model, each member's JSON holding its tensor file's checksum."""
    out = tmp_path / "model"
    shutil.copytree(runs.DEFAULT_MODEL, out)
    for stem in runs.find_model(out).stems:
        meta = json.loads(stem.with_suffix(".json").read_text())
        meta[integrity.CHECKSUM_KEY] = integrity.sha256_file(stem.with_suffix(".safetensors"))
        stem.with_suffix(".json").write_text(json.dumps(meta))
    return out


def _refused(path: Path, match: str) -> None:
    """Each loader refuses ``path`` with a ModelError whose message says ``match``."""
    for load in (torch_engine.load, numpy_engine.load, emovox.load_model):
        with pytest.raises(integrity.ModelError, match=match):
            load(path)


def _rewrite(stem: Path, change) -> None:
    """Change member tensors and record their new checksum: a consistent but wrong file."""
    tensors = load_file(str(stem.with_suffix(".safetensors")))
    save_file(change(tensors), str(stem.with_suffix(".safetensors")))
    meta = json.loads(stem.with_suffix(".json").read_text())
    meta[integrity.CHECKSUM_KEY] = integrity.sha256_file(stem.with_suffix(".safetensors"))
    stem.with_suffix(".json").write_text(json.dumps(meta))


def test_a_sound_copy_loads_and_one_changed_byte_is_refused(model):
    assert torch_engine.load(model).labels == numpy_engine.load(model).labels
    tensors = model / "member0.safetensors"
    blob = bytearray(tensors.read_bytes())
    blob[-3] ^= 0x01  # one bit of one weight
    tensors.write_bytes(bytes(blob))
    _refused(model, "checksum mismatch")


def test_wrong_shapes_and_label_counts_are_refused(model, tmp_path):
    stem = model / "member0"
    good = tmp_path / "good"
    shutil.copytree(model, good)
    _rewrite(stem, lambda t: {**t, "model.enc.mlp.1.weight": np.zeros((256, 10), np.float32)})
    _refused(model, "not fit")
    shutil.rmtree(model)
    shutil.copytree(good, model)
    meta = json.loads(stem.with_suffix(".json").read_text())
    meta["labels"] = meta["labels"][:-1]
    stem.with_suffix(".json").write_text(json.dumps(meta))
    _refused(model, "labels")


def test_unknown_config_keys_and_kinds_are_refused(model):
    stem = model / "member0"
    meta = json.loads(stem.with_suffix(".json").read_text())
    stem.with_suffix(".json").write_text(
        json.dumps({**meta, "model_config": {**meta["model_config"], "evil": 1}})
    )
    with pytest.raises(integrity.ModelError, match="unknown config keys"):
        torch_engine.load(model)
    stem.with_suffix(".json").write_text(json.dumps({**meta, "model": "pickle_runner"}))
    with pytest.raises(integrity.ModelError, match="unknown model"):
        torch_engine.load(model)


@pytest.mark.parametrize("name", ["../outside/member0", "/etc/passwd", "sub/member0", "", 3])
def test_member_names_cannot_leave_the_folder(model, name):
    spec = json.loads((model / "model.json").read_text())
    (model / "model.json").write_text(json.dumps({**spec, "members": [name]}))
    _refused(model, "not a plain file name")


def test_pickles_truncations_and_garbage_are_refused(tmp_path, model):
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "model.pt").write_bytes(b"\x80\x04\x95 a pickle that must never be opened")
    _refused(pickled, "never unpickles")
    stem = model / "member0"
    meta = json.loads(stem.with_suffix(".json").read_text())
    del meta[integrity.CHECKSUM_KEY]  # as old files: no checksum, so the reader must cope
    stem.with_suffix(".json").write_text(json.dumps(meta))
    data = stem.with_suffix(".safetensors").read_bytes()
    stem.with_suffix(".safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(integrity.ModelError, match="not a readable"):
        checkpoint.load(stem)
    _refused(model, "not a readable")
    (model / "model.json").write_text("{not json")
    _refused(model, "not readable")


def test_the_package_never_unpickles():
    """Every torch.load passes weights_only=True; no pickle, no np.load with pickles."""
    offenders = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{path.name}: {m.group(0)}")
        for m in re.finditer(r"np\.load\(([^)]*)\)", text):
            if "allow_pickle=False" not in m.group(1):
                offenders.append(f"{path.name}: {m.group(0)}")
        if re.search(r"^\s*(import pickle|from pickle|import dill|import joblib)", text, re.M):
            offenders.append(f"{path.name}: imports a pickler")
    assert offenders == []


def test_a_model_made_for_another_sample_rate_is_refused_by_every_engine(model):
    """The model's metadata says what audio it needs; an engine never feeds it 16 kHz audio
    it was not made for (models from before 0.3 say nothing and were all 16 kHz)."""
    stem = model / "member0"
    meta = json.loads(stem.with_suffix(".json").read_text())
    assert meta["sample_rate"] == 16000  # models from before 0.3 have no key, and load
    stem.with_suffix(".json").write_text(json.dumps({**meta, "sample_rate": 22050}))
    _refused(model, "made for 22050 Hz")
