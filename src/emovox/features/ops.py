"""The numerical building blocks of :mod:`emovox.features`, each matching librosa's rounding.

DCT and chroma filterbanks, spectral-contrast bands and their quantiles by max/min passes, run
medians, histogram bins of the tuning estimate, and numpy's complex magnitude. Written by hand
because torch has no equivalent that rounds as librosa does, and the features must match it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from emovox.features.config import FeatureConfig


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II rows (scipy.fft.dct(type=2, norm='ortho')): (n_out, n_in)."""
    n = np.arange(n_in)
    k = np.arange(n_out)[:, None]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return m


def chroma_frqbins(sr: int, n_fft: int, n_chroma: int) -> np.ndarray:
    """Chroma bin position of each FFT bin at tuning 0 (librosa.filters.chroma's frqbins)."""
    freqs = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    frq = n_chroma * np.log2(freqs / (440.0 / 16))
    return np.concatenate(([frq[0] - 1.5 * n_chroma], frq))


def chroma_filterbank(
    frqbins: torch.Tensor, tuning: torch.Tensor, n_chroma: int, n_bins: int
) -> torch.Tensor:
    """librosa.filters.chroma for a batch of tunings: (batch, n_chroma, n_bins), float64.

    A tuning of ``t`` chroma bins shifts every FFT bin's chroma position by ``-t``.
    """
    frq = frqbins[None, :] - tuning[:, None]  # (batch, n_fft)
    width = torch.cat(
        [torch.clamp(frq[:, 1:] - frq[:, :-1], min=1.0), torch.ones_like(frq[:, :1])], dim=1
    )
    half = round(n_chroma / 2)
    d = frq[:, None, :] - torch.arange(n_chroma, dtype=frq.dtype, device=frq.device)[None, :, None]
    d = torch.remainder(d + half + 10 * n_chroma, n_chroma) - half
    wts = torch.exp(-0.5 * (2 * d / width[:, None, :]) ** 2)
    wts = wts / torch.linalg.vector_norm(wts, dim=1, keepdim=True)
    wts = wts * torch.exp(-0.5 * ((frq / n_chroma - 5.0) / 2.0) ** 2)[:, None, :]
    wts = torch.roll(wts, -3 * (n_chroma // 12), dims=1)
    return wts[:, :, :n_bins]


def contrast_bands(cfg: FeatureConfig) -> list[tuple[int, int, int]]:
    """(first bin, last bin + 1, quantile count) per band, as librosa.feature.spectral_contrast."""
    freq = np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sr)
    octa = np.zeros(cfg.contrast_bands + 2)
    octa[1:] = cfg.contrast_fmin * 2.0 ** np.arange(cfg.contrast_bands + 1)
    if np.any(octa[:-1] >= 0.5 * cfg.sr):
        raise ValueError("spectral contrast band exceeds Nyquist: lower fmin or bands")
    bands = []
    for k, (lo, hi) in enumerate(zip(octa[:-1], octa[1:], strict=True)):
        band = (freq >= lo) & (freq <= hi)
        idx = np.flatnonzero(band)
        if k > 0:
            band[idx[0] - 1] = True
        if k == cfg.contrast_bands:
            band[idx[-1] + 1 :] = True
        sel = np.flatnonzero(band)
        q = max(1, int(np.rint(cfg.contrast_quantile * band.sum())))
        end = sel[-1] + 1 if k == cfg.contrast_bands else sel[-1]  # librosa drops the last bin
        bands.append((int(sel[0]), int(end), q))
    return bands


def top2(x: torch.Tensor, largest: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The two largest (or smallest) values along axis 1, by a tournament of elementwise ops.

    Rows are paired halves against halves; each pair keeps its best value and the best of the
    rest, so every op runs over whole contiguous rows and vectorises.
    """
    best, worst = (torch.maximum, torch.minimum) if largest else (torch.minimum, torch.maximum)
    h = x.shape[1] // 2
    a1, a2 = best(x[:, :h], x[:, h : 2 * h]), worst(x[:, :h], x[:, h : 2 * h])
    while a1.shape[1] > 1:
        r, h = a1.shape[1], a1.shape[1] // 2
        p1, q1, p2, q2 = a1[:, :h], a1[:, h : 2 * h], a2[:, :h], a2[:, h : 2 * h]
        n1, n2 = best(p1, q1), best(worst(p1, q1), best(p2, q2))
        if r % 2:  # the odd row out goes on to the next round as it is
            n1, n2 = torch.cat([n1, a1[:, 2 * h :]], 1), torch.cat([n2, a2[:, 2 * h :]], 1)
        a1, a2 = n1, n2
    a1, a2 = a1[:, 0], a2[:, 0]
    if x.shape[1] % 2:  # the row left out of the first round
        e = x[:, -1]
        a1, a2 = best(a1, e), best(a2, worst(a1, e))
    return a1, a2


def band_extremes(x: torch.Tensor, q: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean magnitude of the q largest and of the q smallest power values along axis 1, and
    the largest power value itself.

    A partial selection instead of a sort: one max and one min pass when q is 1 (the usual
    case for speech bands), a tournament when q is 2, else q passes each, masking the value
    found. Reducing over axis 1 of a (batch, bins, frames) tensor runs along contiguous frame
    rows, which vectorises. The square root (power -> magnitude) is monotonic, so it is taken
    on the selected values only.
    """
    if q == 1:
        top = x.amax(dim=1)
        return top.sqrt(), x.amin(dim=1).sqrt(), top
    if q == 2 and x.shape[1] >= 2:
        (h1, h2), (l1, l2) = top2(x, True), top2(x, False)
        return (h1.sqrt() + h2.sqrt()) / 2, (l1.sqrt() + l2.sqrt()) / 2, h1
    means = []
    for pick, fill in ((torch.max, -torch.inf), (torch.min, torch.inf)):
        y, total = x, 0.0
        for i in range(q):
            v, idx = pick(y, dim=1, keepdim=True)
            total = total + v.sqrt()
            if i + 1 < q:
                y = y.scatter(1, idx, fill)
        means.append(total[:, 0] / q)
    return means[0], means[1], x.amax(dim=1)


def run_medians(x: torch.Tensor, run: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """numpy.median of each run of x (runs are contiguous; run ids sorted): (n_runs,).

    Each run is laid out in one row between -inf and +inf padding, placed so that its middle
    value(s) sit in the same columns of every row: two k-th value selections give all medians.
    """
    m = int(counts.max())
    first = torch.cumsum(counts, 0) - counts
    pad_lo = (m - 1) // 2 - torch.div(counts - 1, 2, rounding_mode="floor")  # -inf count
    col = torch.arange(m, device=x.device)[None, :]
    rows = torch.where(col < pad_lo[:, None], -torch.inf, torch.inf).to(x.dtype)
    rank = torch.arange(len(x), device=x.device) - first[run]
    rows[run, pad_lo[run] + rank] = x
    j = (m - 1) // 2 + 1  # 1-based rank of each row's lower middle value
    low = torch.kthvalue(rows, j, dim=1).values
    if m == 1:
        return low
    high = torch.kthvalue(rows, j + 1, dim=1).values
    return torch.where(counts % 2 == 1, low, (low + high) / 2)


def float32_ceil(edges: np.ndarray) -> np.ndarray:
    """The smallest float32 at or above each float64 edge, then +inf: a float32 value x is
    >= an edge exactly when it is >= that edge's float32 ceiling."""
    e32 = edges.astype(np.float32)
    e32 = np.where(e32 < edges, np.nextafter(e32, np.float32(np.inf)), e32)
    return np.append(e32, np.float32(np.inf)).astype(np.float32)


def histogram_bins(x: torch.Tensor, edges32: torch.Tensor) -> torch.Tensor:
    """numpy.histogram's bin of each float32 value in [edges[0], edges[-1]) for equal-width
    float64 edges given as ``float32_ceil(edges)``: the arithmetic bin is off by at most one,
    and one comparison with each neighbouring edge puts it right (tests prove it at every
    float32 neighbour of every edge)."""
    n = len(edges32) - 2  # bins
    lo, hi = float(edges32[0]), float(edges32[n])
    k = ((x - lo) * (n / (hi - lo))).long().clamp_(0, n)
    k -= (x < edges32.index_select(0, k)).long()
    k += (x >= edges32.index_select(0, k + 1)).long()
    return k


def numpy_abs(parts: torch.Tensor) -> torch.Tensor:
    """|z| of complex64 values given as (..., 2) float32 (re, im), rounded as numpy's SIMD loop
    rounds it (``larger * sqrt(fma(r, r, 1))`` with ``r = smaller / larger``), which differs from
    a correctly rounded hypot in about a third of values; librosa's magnitudes are these."""
    re, im = (x.abs() for x in parts.unbind(-1))
    big = torch.maximum(re, im)
    # 0 / 0 (a zero bin) becomes 0, as numpy's zero mask makes it
    r = torch.minimum(re, im).div_(big).nan_to_num_(nan=0.0)
    # r * r + 1 in float64 rounded once to float32 is fma's rounding; the square root in
    # float64 rounds to float32 correctly (torch's vectorised float32 one may not)
    q = r.double()
    return q.mul_(q).add_(1.0).float().double().sqrt_().float().mul_(big)
