"""Compressed audio that arrives in pieces (a browser's MediaRecorder: WebM/Opus, Ogg), decoded
as it comes: the bytes go into a pipe that PyAV's demuxer reads from a thread of its own, and
the samples come out in order, 16 kHz mono float32, as soon as they are decoded."""

from __future__ import annotations

import io
import queue
import threading

import numpy as np

from emovox.audio.decode import SAMPLE_RATE


class _Pipe(io.RawIOBase):
    """Bytes pushed by one thread, read (blocking until there are some, or the end) by
    another: a file the demuxer can read as the upload goes on."""

    def __init__(self) -> None:
        self.buffer, self.ended = bytearray(), False
        self.ready = threading.Condition()

    def push(self, data: bytes) -> None:
        with self.ready:
            self.buffer += data
            self.ready.notify()

    def end(self) -> None:
        with self.ready:
            self.ended = True
            self.ready.notify()

    def readable(self) -> bool:
        return True

    def readinto(self, into) -> int:
        with self.ready:
            while not self.buffer and not self.ended:
                self.ready.wait()
            n = min(len(into), len(self.buffer))
            into[:n] = self.buffer[:n]
            del self.buffer[:n]
            return n


class ChunkDecoder:
    """``push`` compressed bytes as they arrive; ``take`` the samples decoded so far;
    ``finish`` for the rest. A stream that cannot be decoded is a ValueError from ``take`` or
    ``finish`` naming the decoder's complaint."""

    def __init__(self) -> None:
        self.pipe, self.out = _Pipe(), queue.Queue()
        self.thread = threading.Thread(target=self._decode, daemon=True, name="emovox-chunks")
        self.thread.start()

    def push(self, data: bytes) -> None:
        self.pipe.push(data)

    def take(self) -> np.ndarray:
        """The samples decoded since the last call (possibly none)."""
        parts = []
        while True:
            try:
                item = self.out.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Exception):
                raise ValueError(f"the compressed stream cannot be decoded: {item}") from None
            if item is not None:
                parts.append(item)
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def finish(self, timeout: float = 60.0) -> np.ndarray:
        """The rest, once the bytes have ended."""
        self.pipe.end()
        self.thread.join(timeout)
        return self.take()

    def _decode(self) -> None:
        import av

        try:
            with av.open(self.pipe, "r") as container:
                resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
                for frame in container.decode(audio=0):
                    for out in resampler.resample(frame):
                        self.out.put(out.to_ndarray().reshape(-1).astype(np.float32))
                for out in resampler.resample(None):
                    self.out.put(out.to_ndarray().reshape(-1).astype(np.float32))
        except Exception as exc:  # noqa: BLE001 - the decoder's complaint, for the caller
            self.out.put(exc)
        finally:
            self.out.put(None)
