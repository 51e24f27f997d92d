"""The NumPy backend gives the torch backend's probabilities on real clips, enrollment too."""

import numpy as np
import pytest

from emovox import audio, models
from emovox.infer import numpy_engine, torch_engine

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)


@pytest.mark.slow
def test_the_numpy_engine_matches_the_torch_engine_on_the_bundled_model(ravdess_manifest):
    torch_pred = torch_engine.load()  # also converts whisper-base into the cache if needed
    fast = numpy_engine.load()
    assert fast is not None and fast.labels == torch_pred.labels
    rows = ravdess_manifest.rows[::157][:5]
    waves = [audio.load(r.path) for r in rows]
    a = fast.predict_waves(waves)
    b = torch_pred.predict_waves(waves)
    assert np.abs(a - b).max() < 1e-4
    assert np.allclose(a.sum(1), 1.0, atol=1e-5)


def test_the_registry_says_which_models_numpy_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a model"):
        numpy_engine.load(tmp_path)
    meta = {"model": "encoder", "model_config": {"enc": {"pool": "meanstd"}}, "finetune_layers": 0}
    assert models.kind("encoder").numpy_predictable(meta)
    assert not models.kind("encoder").numpy_predictable({**meta, "finetune_layers": 2})
    assert models.kind("encoder").numpy_predictable({**meta, "speaker_norm": 10})
    assert not models.kind("hybrid").numpy_predictable({**meta, "model": "hybrid"})
    assert not models.kind("cnn_lstm").numpy_predictable({**meta, "model": "cnn_lstm"})


def test_erf_and_gelu_match_the_exact_definitions():
    import math

    x = np.linspace(-6, 6, 241)
    assert np.abs(numpy_engine.erf(x) - np.array([math.erf(v) for v in x])).max() < 2e-7
    g = numpy_engine.gelu(x.astype(np.float32))
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert g.dtype == np.float32 and np.abs(g - exact).max() < 1e-5


@pytest.mark.slow
def test_the_numpy_engine_answers_a_clip_without_torch_or_scipy(ravdess_manifest):
    """From ``load_model`` to the answer (speech detection, decoding, the model), in a fresh
    process: a one-clip ``emovox predict`` should not pay for torch's or scipy's import."""
    import subprocess
    import sys

    numpy_engine.load() or torch_engine.load()  # the converted encoder exists (README set-up)
    code = (
        "import sys, emovox; m = emovox.load_model(engine='numpy'); "
        f"r = m.predict({str(ravdess_manifest.rows[0].path)!r}); "
        "heavy = ('torch', 'scipy', 'sklearn', 'matplotlib', 'transformers'); "
        "print(r.emotion is not None or r.reason, "
        "sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split(" ", 1)[1].strip() == "[]", out.stdout


def test_both_engines_keep_the_contract_the_analyzer_types_against():
    from emovox.infer.analyzer import Analyzer
    from emovox.infer.engine import Engine

    fast = numpy_engine.load() or pytest.skip("the converted encoder is made by the README set-up")
    assert isinstance(fast, Engine) and isinstance(torch_engine.load(), Engine)

    class OnlyProbabilities:  # what a predictor had to be before: the analyzer then guessed
        labels = ("a", "b")

        def predict_waves(self, waves):
            return np.full((len(waves), 2), 0.5)

    with pytest.raises(TypeError, match="not an emovox Engine"):
        Analyzer(OnlyProbabilities())


def test_engine_numpy_says_how_to_get_the_converted_encoder(tmp_path, monkeypatch):
    """On a fresh cache the NumPy engine cannot run yet: asked for by name, it says what to
    run (the torch path converts the encoder once), not that the model needs torch."""
    import emovox

    monkeypatch.setenv("EMOVOX_CACHE", str(tmp_path / "fresh"))
    with pytest.raises(ValueError, match=r"not converted for engine numpy yet.*--engine torch"):
        emovox.load_model(engine="numpy")


def test_both_backends_take_enrollment_and_agree():
    """Enrollment is the engine's, not a backend's: the NumPy backend standardises a speaker's
    statistics as the torch one does, and the speaker-normalised head then votes."""
    from ..conftest import speechlike

    waves = [speechlike(2.0 + 0.3 * k, seed=k) for k in range(5)]
    fast, slow = numpy_engine.load(), torch_engine.load()
    assert any(fast.speaker_normalised()) and not all(fast.speaker_normalised())
    a = fast.predict_waves(waves[:2], enrollment=waves)
    b = slow.predict_waves(waves[:2], enrollment=waves)
    assert np.abs(a - b).max() < 1e-4
    assert np.abs(a - fast.predict_waves(waves[:2])).max() > 1e-3  # the normalised head voted
