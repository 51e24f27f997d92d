import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emovox import audio
from emovox.audio.filters import mel_filterbank
from emovox.data.clips import clean_features
from emovox.features.handcrafted import FeatureConfig, FeatureExtractor, FeatureStats, extract
from emovox.features.ops import (
    band_extremes,
    dct_matrix,
    float32_ceil,
    histogram_bins,
    numpy_abs,
    run_medians,
)
from emovox.store.cache import ArrayCache

from ..conftest import speechlike

librosa = pytest.importorskip("librosa")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.librosa_reference import librosa_features  # noqa: E402

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)


@pytest.fixture(scope="module")
def clips(ravdess_manifest):
    rows = ravdess_manifest.rows[::120]  # 12 clips, every emotion and both genders
    return [audio.load(r.path) for r in rows]


def test_filterbanks_equal_librosa():
    assert np.allclose(
        mel_filterbank(16000, 512, 64),
        librosa.filters.mel(sr=16000, n_fft=512, n_mels=64),
        atol=1e-7,
    )
    import scipy.fft

    eye = np.eye(64)
    assert np.allclose(dct_matrix(30, 64), scipy.fft.dct(eye, norm="ortho", axis=0)[:30])


@pytest.mark.slow
def test_parity_with_librosa_on_ravdess(clips):
    cfg = FeatureConfig(chroma_tuning=0.0)  # estimator compared separately below
    ours = extract(clips, FeatureExtractor(cfg), batch_size=4)
    tol = {"mfcc": 2e-3, "delta": 5e-4, "delta2": 5e-4, "energy": 1e-4, "zcr": 1e-7, "chroma": 1e-4}
    for g, sl in cfg.slices().items():
        ref = np.concatenate([librosa_features(w, cfg)[g] for w in clips])
        got = np.concatenate([o[:, sl] for o in ours])
        assert ref.shape == got.shape, g
        corr = np.corrcoef(ref.ravel(), got.ravel())[0, 1]
        assert corr >= 0.999, (g, corr)
        if g == "contrast":
            # dB of near-silent valleys amplifies float32 FFT rounding; 99.9% agree closely
            assert np.quantile(np.abs(ref - got), 0.999) < 0.1
        else:
            assert np.abs(ref - got).max() < tol[g], g


@pytest.mark.slow
def test_tuning_estimate_matches_librosa_mostly(clips):
    ex = FeatureExtractor()
    ours = extract(clips, ex, batch_size=4)
    close = 0
    for w, o in zip(clips, ours, strict=True):
        ref = librosa_features(w, FeatureConfig())["chroma"]
        close += np.corrcoef(ref.ravel(), o[:, ex.cfg.slices()["chroma"]].ravel())[0, 1] > 0.99
    assert close >= len(clips) - 2


def test_numpy_abs_rounds_as_numpy():
    # librosa's magnitudes are numpy's complex64 abs, which is not a correctly rounded hypot
    rng = np.random.default_rng(0)
    z = (rng.standard_normal(200_000) + 1j * rng.standard_normal(200_000)).astype(np.complex64)
    z *= np.logspace(-8, 2, len(z)).astype(np.float32)
    z[:100] = 0
    z[100:200] = z[100:200].real  # pure real, then pure imaginary values
    z[200:300] = 1j * z[200:300].imag
    got = numpy_abs(torch.view_as_real(torch.from_numpy(z))).numpy()
    assert np.array_equal(got, np.abs(z))
    hypot = np.sqrt(z.real.astype(np.float64) ** 2 + z.imag.astype(np.float64) ** 2)
    assert np.mean(hypot.astype(np.float32) != got) > 0.1  # the distinction matters


@pytest.mark.slow
def test_exact_stft_gives_librosas_spectrum_and_tuning(clips):
    ex = FeatureExtractor(FeatureConfig(exact_stft=True))
    cfg = ex.cfg
    kw = dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length)
    differ = total = 0
    with torch.inference_mode():
        for w in clips:
            ref = np.abs(librosa.stft(w, **kw)) ** 2
            power = ex.power(torch.from_numpy(w)[None], cfg.n_frames(len(w)))
            differ += int((power[0].numpy() != ref).sum())
            total += ref.size
            mask = torch.ones(1, power.shape[2], dtype=torch.bool)
            tuning = float(ex.estimate_tuning(power, mask))
            assert tuning == librosa.estimate_tuning(S=ref, sr=cfg.sr, bins_per_octave=12)
    assert differ <= 1e-6 * total  # MKL's float64 FFT, not pocketfft's, may round a value
    ours = extract(clips, ex, batch_size=4)
    chroma = cfg.slices()["chroma"]
    for w, o in zip(clips, ours, strict=True):
        assert np.abs(librosa_features(w, cfg)["chroma"] - o[:, chroma]).max() < 1e-4


@pytest.mark.slow
def test_tuning_estimate_takes_any_layout(clips):
    ex = FeatureExtractor()
    with torch.inference_mode():
        power = ex.power(torch.from_numpy(clips[0])[None], ex.cfg.n_frames(len(clips[0])))
    mask = torch.ones(1, power.shape[2], dtype=torch.bool)
    frame_major = power.transpose(1, 2).contiguous().transpose(1, 2)  # same values, strides
    assert float(ex.estimate_tuning(frame_major, mask)) == float(ex.estimate_tuning(power, mask))


def test_batching_and_padding_invariance():
    waves = [speechlike(s, seed=i) for i, s in enumerate([0.7, 1.3, 2.05, 0.31, 1.0])]
    ex = FeatureExtractor()
    alone = [extract([w], ex, 1)[0] for w in waves]
    together = extract(waves, ex, batch_size=5)
    for a, b in zip(alone, together, strict=True):
        assert a.shape == b.shape
        assert np.allclose(a, b, atol=1e-4, rtol=1e-4)
    # a raw padded batch: valid frames equal the clip alone, padded frames are zero and masked
    wave = torch.zeros(2, 40000)
    wave[0, :16000] = torch.from_numpy(waves[4])
    wave[1, :] = torch.from_numpy(np.resize(waves[2], 40000))
    with torch.inference_mode():
        feats, mask = ex(wave, torch.tensor([16000, 40000]))
    assert mask[0].sum() == 101 and mask[1].sum() == 251
    assert torch.all(feats[0, 101:] == 0)
    assert np.allclose(feats[0, :101].numpy(), alone[4], atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_group_subsets_give_the_full_sets_columns(clips):
    # without contrast, the tuning estimate finds each frame's maximum itself: same chroma
    full = FeatureExtractor()
    part = FeatureExtractor(FeatureConfig(groups=("mfcc", "chroma")))
    a, b = extract(clips[:4], full, 4), extract(clips[:4], part, 4)
    for x, y in zip(a, b, strict=True):
        for g, sl in part.cfg.slices().items():
            assert np.array_equal(x[:, full.cfg.slices()[g]], y[:, sl]), g


def test_clip_ending_below_zero_gains_no_crossing_from_padding():
    # the last sample is negative: a zero-padded batch must not count a crossing into padding
    w = speechlike(0.5, seed=7)
    w[-1] = -0.5
    ex = FeatureExtractor()
    zcr = ex.cfg.slices()["zcr"]
    alone = extract([w], ex, 1)[0][:, zcr]
    padded = extract([w, speechlike(1.5, seed=8)], ex, 2)[0][:, zcr]
    assert np.array_equal(alone, padded)
    assert np.allclose(alone[:, 0], librosa_features(w, ex.cfg)["zcr"][:, 0], atol=1e-6)


@pytest.mark.parametrize("rows", [1, 2, 3, 6, 7, 51, 102, 103])
@pytest.mark.parametrize("q", [1, 2, 3])
def test_band_extremes_equal_a_sort(rows, q):
    # contrast's quantiles by partial selection (tournament for q=2) against a full sort
    x = torch.rand(3, rows, 11, generator=torch.Generator().manual_seed(rows))
    x[0, : min(rows, 3)] = 0.25  # ties
    if rows < q:
        return
    srt = x.sort(dim=1).values.sqrt()
    peak, valley, top = band_extremes(x, q)
    assert torch.equal(top, x.amax(dim=1))  # feeds piptrack's per-frame reference
    assert torch.allclose(peak, srt[:, -q:].mean(dim=1), atol=1e-7)
    assert torch.allclose(valley, srt[:, :q].mean(dim=1), atol=1e-7)


def test_histogram_bins_equal_numpy_at_every_edge():
    # the binning is monotonic, so agreeing with numpy at every float32 neighbour of every
    # edge means agreeing for every float32 input
    edges = np.linspace(-0.5, 0.5, 101)
    xs = set()
    for e in edges.astype(np.float32):
        for x in (e, np.nextafter(e, np.float32(-1)), np.nextafter(e, np.float32(1))):
            for y in (x, np.nextafter(x, np.float32(-1)), np.nextafter(x, np.float32(1))):
                if -0.5 <= y < 0.5:
                    xs.add(y)
    x = np.array(sorted(xs), dtype=np.float32)
    want = [int(np.argmax(np.histogram([v], bins=edges)[0])) for v in x]
    got = histogram_bins(torch.from_numpy(x), torch.from_numpy(float32_ceil(edges)))
    assert got.tolist() == want


def test_run_medians_equal_numpy():
    rng = np.random.default_rng(0)
    counts = [1, 4, 0, 7, 2, 10]
    values = [rng.random(n).astype(np.float32) for n in counts]
    run = torch.cat([torch.full((n,), i) for i, n in enumerate(counts)])
    got = run_medians(torch.from_numpy(np.concatenate(values)), run, torch.tensor(counts))
    for i, v in enumerate(values):
        if len(v):
            assert got[i].item() == pytest.approx(float(np.median(v)), abs=1e-7)


def test_feature_layout_and_config_roundtrip():
    cfg = FeatureConfig(groups=("mfcc", "energy", "zcr"), n_mfcc=13)
    assert cfg.n_features == 16 and cfg.slices()["zcr"] == slice(15, 16)
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg
    out = extract([speechlike(0.5)], FeatureExtractor(cfg))[0]
    assert out.shape == (51, 16)


def test_stats_fit_on_given_side_only():
    a = [np.full((10, 3), 2.0, np.float32), np.full((30, 3), 6.0, np.float32)]
    st = FeatureStats.fit(a)
    assert np.allclose(st.mean, 5.0) and np.allclose(st.std, np.sqrt(3.0))
    assert np.allclose(st.apply(np.full((1, 3), 5.0)), 0.0)


def test_cache_hit_and_invalidation(tmp_path):
    cache = ArrayCache(tmp_path)
    w = [speechlike(0.5)]
    ex = FeatureExtractor()
    first = clean_features(w, ["abc"], ex, cache)[0]
    files = list((tmp_path / "features").rglob("*.npy"))
    assert len(files) == 1
    # a hit returns the stored array, not a recomputation: poison it and see the poison
    np.save(files[0], np.zeros_like(first))
    assert np.all(clean_features(w, ["abc"], ex, cache)[0] == 0)
    # a changed file (content hash) or config is a different key: recomputed, not stale
    assert np.allclose(clean_features(w, ["abd"], ex, cache)[0], first)
    ex13 = FeatureExtractor(FeatureConfig(n_mfcc=13))
    assert clean_features(w, ["abc"], ex13, cache)[0].shape[1] == 13 * 3 + 2 + 7 + 1 + 12
    assert len(list((tmp_path / "features").rglob("*.npy"))) == 3
    assert not list((tmp_path / "features").rglob("*.tmp"))


def test_batches_larger_than_the_tuning_histogram():
    # more clips in one batch than the tuning histogram has edges (101)
    waves = [speechlike(0.3, seed=i) for i in range(110)]
    ex = FeatureExtractor()
    out = extract(waves, ex, batch_size=110)
    assert len(out) == 110 and np.allclose(out[7], extract([waves[7]], ex, 1)[0], atol=1e-4)


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_gives_the_cpu_features(clips):
    """The same extractor moved to a GPU: same frames, same numbers up to float32 rounding
    (cuFFT and the CPU's FFT round differently)."""
    cfg = FeatureConfig()
    cpu = extract(clips, FeatureExtractor(cfg), batch_size=4)
    gpu = extract(clips, FeatureExtractor(cfg).to("cuda"), batch_size=4)
    for a, b in zip(cpu, gpu, strict=True):
        assert a.shape == b.shape
    for g, sl in cfg.slices().items():
        if g == "chroma":  # a rounding can move a tuning estimate by one histogram bin
            close = [
                np.corrcoef(a[:, sl].ravel(), b[:, sl].ravel())[0, 1] > 0.999
                for a, b in zip(cpu, gpu, strict=True)
            ]
            assert sum(close) >= len(clips) - 1
            continue
        a = np.concatenate([x[:, sl] for x in cpu]).ravel()
        b = np.concatenate([x[:, sl] for x in gpu]).ravel()
        assert np.corrcoef(a, b)[0, 1] >= 0.99999, g
        if g != "contrast":  # near-silent valleys again (see the librosa parity test)
            assert np.abs(a - b).max() < 1e-3 * max(1.0, np.abs(a).max()), g


@pytest.mark.slow
def test_features_extract_command(ravdess_manifest, tmp_path):
    # the command's file format on real clips plus one corrupt file, which is reported, not fatal
    import dataclasses
    import json

    from emovox import cli
    from emovox.data import corpora

    rows = ravdess_manifest.rows[::360]  # 4 clips
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    manifest = tmp_path / "m.tsv"
    corpora.Manifest([*rows, dataclasses.replace(rows[0], path=str(bad))], []).write_tsv(manifest)
    out = tmp_path / "fx"
    assert (
        cli.main(
            ["features", "extract", str(manifest), "--out", str(out), "--no-cache", "--exact-stft"]
        )
        == 0
    )
    npz = np.load(out / "features.npz")
    meta = json.loads((out / "features.json").read_text())
    cfg = FeatureConfig.from_dict(meta["feature_config"])
    assert cfg.exact_stft and [e[0] for e in meta["errors"]] == [str(bad)]
    assert list(npz["paths"]) == [r.path for r in rows]
    want = extract([audio.load(r.path) for r in rows], FeatureExtractor(cfg))
    off = npz["offsets"]
    for i, w in enumerate(want):
        assert np.array_equal(npz["features"][off[i] : off[i + 1]], w)
    assert len(npz["feature_names"]) == cfg.n_features == 112
    assert corpora.Manifest.read_tsv(out / "manifest.tsv").rows == rows
