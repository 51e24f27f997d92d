"""librosa's definition of emovox's feature set: the reference the torch path must match."""

from __future__ import annotations

import librosa
import numpy as np

from emovox.features.handcrafted import FeatureConfig


def librosa_features(y: np.ndarray, cfg: FeatureConfig) -> dict[str, np.ndarray]:
    """Each group as librosa computes it, one clip at a time: {group: (frames, dims)}."""
    kw = dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length)
    sr = cfg.sr
    out = {}
    # mfcc's power_to_db uses top_db=80, the FeatureConfig default
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=cfg.n_mfcc, n_mels=cfg.n_mels, **kw)
    out["mfcc"] = mfcc
    out["delta"] = librosa.feature.delta(mfcc, width=cfg.delta_width, order=1)
    out["delta2"] = librosa.feature.delta(mfcc, width=cfg.delta_width, order=2)
    rms = librosa.feature.rms(y=y, frame_length=cfg.n_fft, hop_length=cfg.hop_length)
    out["energy"] = np.concatenate([rms, librosa.amplitude_to_db(rms, ref=1.0, top_db=None)])
    out["contrast"] = librosa.feature.spectral_contrast(
        y=y,
        sr=sr,
        fmin=cfg.contrast_fmin,
        n_bands=cfg.contrast_bands,
        quantile=cfg.contrast_quantile,
        **kw,
    )
    out["zcr"] = librosa.feature.zero_crossing_rate(
        y, frame_length=cfg.n_fft, hop_length=cfg.hop_length
    )
    out["chroma"] = librosa.feature.chroma_stft(
        y=y, sr=sr, n_chroma=cfg.n_chroma, tuning=cfg.chroma_tuning, **kw
    )
    return {g: out[g].T.astype(np.float32) for g in cfg.groups}
