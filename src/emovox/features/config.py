"""The handcrafted feature set's settings, saved with each model so inference matches
training; apart from the extractor so its numerical kernels can read them without a cycle."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from emovox.audio.decode import SAMPLE_RATE


@dataclass(frozen=True)
class FeatureConfig:
    """Every parameter of the feature set; saved with each model so inference matches training."""

    sr: int = SAMPLE_RATE  # fixed: the audio's rate inside emovox (checked below)
    n_fft: int = 512
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_mels: int = 64
    n_mfcc: int = 30
    delta_width: int = 9
    top_db: float = 80.0
    contrast_fmin: float = 200.0
    contrast_bands: int = 6
    contrast_quantile: float = 0.02
    n_chroma: int = 12
    chroma_tuning: float | None = None  # None: estimate per clip, as librosa does
    # the power spectrum as librosa rounds it (float64 FFT, numpy's complex64 magnitude): its
    # tuning estimate on every clip, in about 1.6 times the time (README, Features)
    exact_stft: bool = False
    groups: tuple[str, ...] = field(
        default=("mfcc", "delta", "delta2", "energy", "contrast", "zcr", "chroma")
    )

    def __post_init__(self) -> None:
        if self.sr != SAMPLE_RATE:  # filters for another rate would silently misread the audio
            raise ValueError(
                f"feature.sr is the rate emovox decodes every input to, {SAMPLE_RATE} Hz, "
                f"not {self.sr}: it cannot be set"
            )

    def dims(self) -> dict[str, int]:
        """Width of each enabled group, in output order."""
        d = {
            "mfcc": self.n_mfcc,
            "delta": self.n_mfcc,
            "delta2": self.n_mfcc,
            "energy": 2,
            "contrast": self.contrast_bands + 1,
            "zcr": 1,
            "chroma": self.n_chroma,
        }
        return {g: d[g] for g in self.groups}

    def slices(self) -> dict[str, slice]:
        """Column range of each group in the feature matrix."""
        out, start = {}, 0
        for g, n in self.dims().items():
            out[g] = slice(start, start + n)
            start += n
        return out

    @property
    def n_features(self) -> int:
        return sum(self.dims().values())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["groups"] = list(self.groups)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureConfig:
        return cls(**{**d, "groups": tuple(d.get("groups", cls.groups))})

    def n_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.hop_length
