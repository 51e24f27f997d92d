"""Batched torch extraction of frame-level handcrafted features that match librosa.

One STFT feeds every spectral feature; ZCR and energy come from one pass over the waveform.
Each group follows the librosa function named beside it, with the same defaults, so the
reference everyone trusts and this fast path give the same numbers (see
``tests/features/test_handcrafted.py`` and ``benchmarks/features.py``):

==========  ====  ===========================================================================
group       dims  librosa definition
==========  ====  ===========================================================================
mfcc        30    ``feature.mfcc`` (slaney mel, power_to_db with top_db 80, DCT-II ortho)
delta       30    ``feature.delta(mfcc, width=9, order=1)`` (Savitzky-Golay, ``interp`` edges)
delta2      30    ``feature.delta(mfcc, width=9, order=2)``
energy      2     ``feature.rms`` (from the waveform) and ``amplitude_to_db(rms)``
contrast    7     ``feature.spectral_contrast`` (fmin 200 Hz, 6 bands, quantile 0.02)
zcr         1     ``feature.zero_crossing_rate`` (edge padding, as librosa does)
chroma      12    ``feature.chroma_stft`` with librosa's per-clip tuning estimate
==========  ====  ===========================================================================

A padded batch gives each clip exactly what it gives alone: per-clip maxima (top_db), delta
edges, ZCR edge padding and the tuning estimate all use the clip's own length.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emovox.audio.filters import mel_filterbank
from emovox.features.config import FeatureConfig
from emovox.features.ops import (
    band_extremes,
    chroma_filterbank,
    chroma_frqbins,
    contrast_bands,
    dct_matrix,
    float32_ceil,
    histogram_bins,
    numpy_abs,
    run_medians,
)

__all__ = ["FeatureConfig", "FeatureExtractor", "FeatureStats", "extract", "pad_batch"]


class FeatureExtractor(nn.Module):
    """(batch, samples) waveforms + lengths -> (batch, frames, n_features) features + mask."""

    def __init__(self, cfg: FeatureConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or FeatureConfig()
        n_bins = cfg.n_fft // 2 + 1
        # librosa/torch centre a shorter window inside the n_fft frame
        win = torch.hann_window(cfg.win_length, periodic=True)
        left = (cfg.n_fft - cfg.win_length) // 2
        self.register_buffer("window", F.pad(win, (left, cfg.n_fft - cfg.win_length - left)))
        from scipy.signal import get_window, savgol_coeffs  # here: scipy.signal costs 0.8 s

        win64 = torch.from_numpy(get_window("hann", cfg.win_length, fftbins=True))
        # librosa's own window: float64, and applied in float64 (exact_stft)
        self.register_buffer("window64", F.pad(win64, (left, cfg.n_fft - cfg.win_length - left)))
        mel = torch.from_numpy(mel_filterbank(cfg.sr, cfg.n_fft, cfg.n_mels))
        self.register_buffer("mel_fb", mel)  # (n_mels, bins)
        dct = torch.from_numpy(dct_matrix(cfg.n_mfcc, cfg.n_mels)).float()
        self.register_buffer("dct", dct)  # (n_mfcc, n_mels)
        k = cfg.delta_width
        sg = np.stack([savgol_coeffs(k, polyorder=o, deriv=o, use="dot") for o in (1, 2)])
        self.register_buffer("savgol", torch.from_numpy(sg).float())  # (2, width)
        self.register_buffer(
            "frqbins", torch.from_numpy(chroma_frqbins(cfg.sr, cfg.n_fft, cfg.n_chroma))
        )
        self.bands = contrast_bands(cfg)
        fft_freqs = np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sr)
        in_range = np.flatnonzero((fft_freqs >= 150.0) & (fft_freqs < min(4000.0, cfg.sr / 2)))
        self.pitch_range = (max(1, int(in_range[0])), min(n_bins - 1, int(in_range[-1]) + 1))
        edges = np.linspace(-0.5, 0.5, 101)
        self.register_buffer("hist_edges", torch.from_numpy(edges))
        self.register_buffer("hist_edges32", torch.from_numpy(float32_ceil(edges)))
        self.n_bins = n_bins
        self._fb_cache: dict[float, torch.Tensor] = {}  # tuning -> (n_chroma, bins)

    # -- helpers (all bin-major: (batch, dims, frames), so reductions over bins vectorise) --
    def _db(self, x: torch.Tensor, mask: torch.Tensor, amin: float = 1e-10) -> torch.Tensor:
        """power_to_db(ref=1, top_db) with the max taken over each clip's valid frames."""
        db = 10.0 * torch.log10(torch.clamp(x, min=amin))
        top = db.amax(dim=1).masked_fill(~mask, -torch.inf).amax(dim=1)  # (b,)
        return torch.maximum(db, top[:, None, None] - self.cfg.top_db)

    def _frame_sums(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """Sum of x[t*hop : t*hop + n_fft] for each frame t, from sums over small blocks.

        Blocks of gcd(hop, n_fft) samples are summed once, then a float64 cumulative sum over
        the (few) block sums gives every frame: one pass over the waveform, no framing.
        x must be ``_sum_length(frames)`` long (whole blocks).
        """
        hop, n = self.cfg.hop_length, self.cfg.n_fft
        g = math.gcd(hop, n)
        blocks = x.reshape(x.shape[0], -1, g).sum(dim=2)  # short float32 sums, then float64
        cs = F.pad(torch.cumsum(blocks.double(), dim=1), (1, 0))
        first = torch.arange(frames, device=x.device) * (hop // g)
        return cs[:, first + n // g] - cs[:, first]

    def _sum_length(self, frames: int) -> int:
        """Samples that ``frames`` frames span, rounded up to whole gcd(hop, n_fft) blocks."""
        hop, n = self.cfg.hop_length, self.cfg.n_fft
        need = (frames - 1) * hop + n
        return need + (-need) % math.gcd(hop, n)

    def _deltas(self, mfcc: torch.Tensor, n_frames: torch.Tensor) -> torch.Tensor:
        """Savitzky-Golay order 1 and 2 along time; edges repeat the first/last full window.

        mfcc: (b, c, t) -> (b, 2c, t): order-1 deltas of every coefficient, then order-2.
        """
        b, c, t = mfcc.shape
        half = self.cfg.delta_width // 2
        padded = F.pad(mfcc, (half, half))
        d = mfcc.new_zeros(b, 2 * c, t)  # order-1 deltas of each coefficient, then order-2
        for k, (w1, w2) in enumerate(self.savgol.T.tolist()):  # shifted multiply-adds
            shifted = padded[:, :, k : k + t]
            d[:, :c].add_(shifted, alpha=w1)
            d[:, c:].add_(shifted, alpha=w2)
        pos = torch.arange(t, device=mfcc.device)[None, :]
        hi = (n_frames[:, None] - 1 - half).clamp(min=half)
        idx = torch.minimum(torch.clamp(pos, min=half), hi)[:, None, :].expand(b, 2 * c, t)
        return torch.gather(d, 2, idx)

    def _energy_zcr(
        self, wave: torch.Tensor, lengths: torch.Tensor, frames: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """RMS (librosa.feature.rms, zero padding) and zero-crossing rate, each (b, t).

        ZCR follows librosa: |x| <= 1e-10 counts as +0, and its edge padding repeats the first
        and last sample, so only crossings inside each clip's own samples count, placed at their
        padded positions. Squares and crossings share one buffer and one pass of frame sums.
        """
        n, (b, total) = self.cfg.n_fft, wave.shape
        buf = wave.new_empty(2, b, self._sum_length(frames))  # squares, crossings
        buf[:, :, : n // 2 + 1].zero_()  # only the padding is zeroed: the rest is written
        buf[:, :, n // 2 + total :].zero_()
        squares, cross = buf  # sample m sits at m + n/2 (centred frames)
        torch.mul(wave, wave, out=squares[:, n // 2 : n // 2 + total])
        # float outputs: comparisons into bool tensors run 3x slower here
        neg = torch.lt(wave, -1e-10, out=torch.empty_like(wave))  # signbit after the threshold
        torch.ne(neg[:, 1:], neg[:, :-1], out=cross[:, n // 2 + 1 : n // 2 + total])
        # a clip's last sample against the zero padding is no crossing of its own
        short = torch.nonzero(lengths < total)[:, 0]
        cross[short, n // 2 + lengths[short]] = 0.0
        sums = self._frame_sums(buf.view(2 * b, -1), frames)
        # a frame counts crossings between its own samples: drop the one into its first sample
        starts = torch.arange(frames, device=wave.device) * self.cfg.hop_length
        zcr = (sums[b:] - cross[:, starts]) / n
        return torch.sqrt(sums[:b] / n).float(), zcr.float()

    def _contrast(
        self, power: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Spectral contrast from the power spectrum (librosa works on magnitudes): (b, 7, t),
        and each frame's largest power value (b, t), which the bands (covering every bin) give
        for free."""
        peaks, valleys, tops = [], [], []
        for lo, hi, q in self.bands:
            peak, valley, top = band_extremes(power[:, lo:hi], q)
            peaks.append(peak)
            valleys.append(valley)
            tops.append(top)
        peak, valley = torch.stack(peaks, 1), torch.stack(valleys, 1)  # (b, bands, t)
        frame_max = functools.reduce(torch.maximum, tops)
        return self._db(peak, mask) - self._db(valley, mask), frame_max

    def estimate_tuning(
        self, power: torch.Tensor, mask: torch.Tensor, frame_max: torch.Tensor | None = None
    ) -> torch.Tensor:
        """librosa.estimate_tuning per clip: piptrack's interpolated spectral peaks in 150-4000
        Hz, those at or above the clip's median peak magnitude, histogram of their 0.01-bin
        residuals against equal temperament; the fullest bin wins. power: (b, bins, t); mask:
        (b, t) valid frames; frame_max: (b, t) each frame's largest power, if known. Peaks are
        found densely, interpolated only where they are."""
        lo, hi = self.pitch_range
        if frame_max is None:
            frame_max = power.amax(dim=1)
        ref = (0.1 * frame_max).masked_fill_(~mask, torch.inf)[:, None, :]  # padding: no peaks
        # piptrack's local maxima of S * (S > ref): as S >= 0 and ref >= 0, the same as
        # S > max(ref, its lower neighbour) and S >= its upper neighbour, without the product
        mid = power[:, lo:hi]
        peak = mid > torch.maximum(power[:, lo - 1 : hi - 1], ref)
        peak &= mid >= power[:, lo + 1 : hi + 1]
        bi, ki, ti = torch.nonzero(peak, as_tuple=True)  # clip by clip
        b = power.shape[0]
        if len(bi) == 0:
            return torch.zeros(b, dtype=torch.float64, device=power.device)
        flat_power = power.contiguous()  # the flat indices below assume its strides
        flat, (s_b, s_k, _) = flat_power.view(-1), flat_power.stride()
        at = bi * s_b + ti + (lo - 1) * s_k
        at += ki * s_k  # flat index of the bin below each peak
        s_m, s_0, s_p = (flat.index_select(0, at + j * s_k) for j in range(3))
        # librosa's dtypes, step by step: float32 sums and differences, its numba stencil's
        # float64 parabola, float32 shifts and magnitudes, float64 frequencies stored as float32
        diff = s_p - s_m
        a, half_diff = (s_p + s_m).double() - 2 * s_0.double(), diff.double() / 2
        shift = torch.where(half_diff.abs() >= a.abs(), 0.0, -half_diff / a).float()
        mags = s_0 + 0.5 * (diff / 2) * shift
        pitch = (((ki + lo).double() + shift.double()) * (self.cfg.sr / self.cfg.n_fft)).float()
        counts = torch.bincount(bi, minlength=b)
        res = torch.remainder(self.cfg.n_chroma * torch.log2(pitch / (440.0 / 16)), 1.0)
        res = torch.where(res >= 0.5, res - 1.0, res)
        k = histogram_bins(res, self.hist_edges32)
        # peaks under their clip's median magnitude go to a spare last bin
        edges = self.hist_edges
        n_hist = len(edges) - 1
        k = torch.where(mags >= run_medians(mags, bi, counts)[bi], bi * n_hist + k, b * n_hist)
        hist = torch.bincount(k, minlength=b * n_hist + 1)[:-1].view(b, n_hist)
        return torch.where(counts > 0, edges[hist.argmax(dim=1)], edges.new_zeros(b))

    def _chroma_fb(self, tuning: torch.Tensor) -> torch.Tensor:
        """Chroma filter banks for each clip's tuning, built once per distinct tuning value."""
        values, inverse = torch.unique(tuning, return_inverse=True)
        missing = [v for v in values.tolist() if v not in self._fb_cache]
        if missing:
            banks = chroma_filterbank(
                self.frqbins, self.frqbins.new_tensor(missing), self.cfg.n_chroma, self.n_bins
            ).float()
            self._fb_cache.update(zip(missing, banks, strict=True))
        return torch.stack([self._fb_cache[v] for v in values.tolist()])[inverse]

    def power(self, wave: torch.Tensor, frames: int, chunk: int = 96) -> torch.Tensor:
        """|STFT|^2 (centred, zero-padded frames) written straight into the (b, bins, t)
        layout, ``chunk`` frames at a time: the windowed frames and their spectrum then stay
        in cache instead of passing through memory (README, Features: the speed figures). With
        ``exact_stft`` every value is librosa's ``np.abs(stft) ** 2`` to the last bit but for
        rare FFT roundings (MKL's float64 FFT, not pocketfft's)."""
        half = self.cfg.n_fft // 2
        framed = F.pad(wave, (half, half)).unfold(1, self.cfg.n_fft, self.cfg.hop_length)
        power = wave.new_empty(wave.shape[0], self.n_bins, frames)
        by_frame = power.transpose(1, 2)  # (b, t, bins) view
        for s in range(0, frames, chunk):
            if self.cfg.exact_stft:  # librosa: float64 window and FFT, complex64 result
                spec = torch.fft.rfft(framed[:, s : s + chunk].double() * self.window64, dim=-1)
                mag = numpy_abs(torch.view_as_real(spec).float())
                torch.mul(mag, mag, out=by_frame[:, s : s + chunk])
            else:
                spec = torch.fft.rfft(framed[:, s : s + chunk] * self.window, dim=-1)
                # square the interleaved (re, im) pairs in place, contiguously, then one
                # strided pass adds each pair into the bin-major layout
                parts = torch.view_as_real(spec).square_()  # (b, chunk, bins, 2)
                torch.add(parts[..., 0], parts[..., 1], out=by_frame[:, s : s + chunk])
        return power

    # -- forward ---------------------------------------------------------------------------
    def forward(
        self, wave: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """wave: (batch, samples) zero-padded; lengths: (batch,) valid samples.

        Returns features (batch, frames, n_features) and mask (batch, frames), True where valid.
        Padded frames are zero.
        """
        cfg = self.cfg
        b, total = wave.shape
        frames = cfg.n_frames(total)
        n_frames = lengths // cfg.hop_length + 1
        mask = torch.arange(frames, device=wave.device)[None, :] < n_frames[:, None]
        power = self.power(wave, frames)  # (b, bins, t); padded frames are masked later
        groups: dict[str, torch.Tensor] = {}  # each (b, dims, t)
        want = set(cfg.groups)
        if want & {"mfcc", "delta", "delta2"}:
            mfcc = self.dct @ self._db(self.mel_fb @ power, mask)  # (b, n_mfcc, t)
            groups["mfcc"] = mfcc
            if want & {"delta", "delta2"}:
                groups["delta"], groups["delta2"] = self._deltas(mfcc, n_frames).chunk(2, dim=1)
        if want & {"energy", "zcr"}:
            rms, zcr = self._energy_zcr(wave, lengths, frames)
            log_rms = 20.0 * torch.log10(torch.clamp(rms, min=1e-5))
            groups["energy"] = torch.stack([rms, log_rms], dim=1)
            groups["zcr"] = zcr[:, None]
        frame_max = None
        if "contrast" in want:
            groups["contrast"], frame_max = self._contrast(power, mask)
        if "chroma" in want:
            if cfg.chroma_tuning is None:
                tuning = self.estimate_tuning(power, mask, frame_max)
            else:
                tuning = torch.full((b,), float(cfg.chroma_tuning), dtype=torch.float64)
            # .to(power): banks cached before the module moved device follow it
            raw = torch.bmm(self._chroma_fb(tuning).to(power), power)  # (b, chroma, t)
            peak = raw.amax(dim=1, keepdim=True)  # librosa's |raw| max: raw >= 0 here
            tiny = torch.finfo(raw.dtype).tiny
            groups["chroma"] = raw / torch.where(peak < tiny, torch.ones_like(peak), peak)
        # one transposing copy per group into the frame-major output, whose per-clip slices
        # are then contiguous
        feats = power.new_empty(b, frames, cfg.n_features)
        for g, sl in cfg.slices().items():
            feats[:, :, sl].copy_(groups[g].transpose(1, 2))
        return feats.masked_fill_(~mask[:, :, None], 0.0), mask


def pad_batch(waves: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad 1-D float arrays into (batch, max_len) plus lengths."""
    lengths = np.array([len(w) for w in waves], dtype=np.int64)
    out = np.empty((len(waves), int(lengths.max())), dtype=np.float32)
    for i, w in enumerate(waves):  # each row written once: the clip, then its zero padding
        out[i, : len(w)] = w
        out[i, len(w) :] = 0.0
    return torch.from_numpy(out), torch.from_numpy(lengths)


@torch.inference_mode()
def extract(
    waves: Sequence[np.ndarray],
    extractor: FeatureExtractor,
    batch_size: int = 32,
) -> list[np.ndarray]:
    """Features of each clip, (frames, n_features) float32, in input order.

    Clips are sorted by length and batched with their neighbours (length bucketing), so little
    time goes into padding; results equal those of batch size 1. Runs on the extractor's device
    (``extractor.to("cuda")`` moves the work to a GPU).
    """
    device = extractor.window.device
    order = np.argsort([len(w) for w in waves], kind="stable")
    out: list[np.ndarray] = [np.empty(0)] * len(waves)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        wave, lengths = pad_batch([waves[i] for i in idx])
        feats, mask = extractor(wave.to(device), lengths.to(device))
        feats, n = feats.cpu(), mask.sum(dim=1).tolist()
        for j, i in enumerate(idx):
            out[i] = feats[j, : n[j]].numpy().copy()
    return out


@dataclass
class FeatureStats:
    """Per-feature mean and std, fitted on the training side only, saved with the model."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, feats: Sequence[np.ndarray]) -> FeatureStats:
        total = sum(len(f) for f in feats)
        mean = sum(f.sum(axis=0, dtype=np.float64) for f in feats) / total
        var = sum(((f - mean) ** 2).sum(axis=0) for f in feats) / total
        std = np.sqrt(np.maximum(var, 0.0))
        return cls(mean.astype(np.float32), np.maximum(std, 1e-5).astype(np.float32))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)
