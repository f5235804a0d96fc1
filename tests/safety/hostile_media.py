"""Bad media, made on the spot: truncated and damaged files, lies in headers, things that are
not media, and small files that decode to hours.  Every maker is seeded and writes one file.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from synth_music import make_score, render, write_audio, write_video_only


def wav_bytes(*, rate: int, channels: int, bits: int = 16, frames: int = 0,
              declared: int | None = None, fmt_tag: int = 1, seed: int = 0) -> bytes:
    """A RIFF/WAVE file whose header says whatever it is told to (noise as the data)."""
    block = max(channels * bits // 8, 0)
    data = np.random.default_rng(seed).integers(-3000, 3000, size=frames * max(channels, 1),
                                                dtype="<i2").tobytes()
    size = len(data) if declared is None else declared
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, (rate * block) & 0xFFFFFFFF,
                      block & 0xFFFF, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" \
        + struct.pack("<I", size & 0xFFFFFFFF) + data
    return b"RIFF" + struct.pack("<I", len(body) & 0xFFFFFFFF) + body


def float_wav_bytes(samples: np.ndarray, rate: int = 8000) -> bytes:
    """A 32-bit float WAV (format tag 3) holding exactly ``samples``, NaN and Inf included."""
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" \
        + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _tone(n: int) -> np.ndarray:
    t = np.arange(n) / 8000
    return 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 3 * t))


def silence(path: Path, *, rate: int, seconds: float, codec: str = "flac") -> Path:
    """Silence encoded in big frames: a few bytes per second of audio."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        step = 1 << 16
        zeros = np.zeros((1, step), dtype=np.int16)
        done, total = 0, round(seconds * rate)
        while done < total:
            frame = av.AudioFrame.from_ndarray(zeros[:, : min(step, total - done)],
                                               format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = done
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
            done += step
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def music(seed: int, seconds: float = 4.0) -> np.ndarray:
    return render(make_score(seed, seconds))


def _damaged(path: Path, source: Callable[[Path], Path], how: str, seed: int) -> Path:
    scratch = path.with_name(".source-" + path.name)
    data = source(scratch).read_bytes()
    scratch.unlink()
    rng = np.random.default_rng(seed)
    if how == "half":
        data = data[: len(data) // 2]
    elif how == "middle":
        third = len(data) // 3
        data = data[:third] + rng.bytes(third) + data[2 * third:]
    path.write_bytes(data)
    return path


def _png() -> bytes:
    raw = b"".join(b"\x00" + bytes(range(16)) * 3 for _ in range(16))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body \
            + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("song.wav", b"RIFF" + bytes(100))
    return buffer.getvalue()


def _encode(codec: str, seed: int, **extra: object) -> Callable[[Path], Path]:
    return lambda p: write_audio(p, music(seed), codec=codec, **extra)


#: name -> (maker, what must happen): "refused" (named in a one-line error, not catalogued),
#: "indexed" (catalogued), or "either" (one or the other, but never a crash or a hang)
BAD_MEDIA: dict[str, tuple[Callable[[Path], Path], str]] = {}


def _bad(name: str, outcome: str) -> Callable[[Callable[[Path], Path]], Callable[[Path], Path]]:
    def register(maker: Callable[[Path], Path]) -> Callable[[Path], Path]:
        BAD_MEDIA[name] = (maker, outcome)
        return maker

    return register


def _bytes(name: str, outcome: str, data: Callable[[], bytes]) -> None:
    def maker(path: Path) -> Path:
        path.write_bytes(data())
        return path

    BAD_MEDIA[name] = (maker, outcome)


for _codec, _suffix, _extra in (("flac", "flac", {}), ("libmp3lame", "mp3", {}),
                                ("aac", "m4a", {}), ("libopus", "ogg", {"codec_rate": 48000}),
                                ("pcm_s16le", "wav", {})):
    _seed = 900 + len(BAD_MEDIA)
    BAD_MEDIA[f"cut in half.{_suffix}"] = (
        lambda p, c=_codec, s=_seed, e=_extra: _damaged(p, _encode(c, s, **e), "half", s),
        "refused" if _suffix in ("flac", "mp3", "m4a", "wav") else "either")
    BAD_MEDIA[f"noise in the middle.{_suffix}"] = (
        lambda p, c=_codec, s=_seed + 1, e=_extra: _damaged(p, _encode(c, s, **e), "middle", s),
        "either")

_bytes("zero bytes.wav", "refused", lambda: b"")
_bytes("text.wav", "refused", lambda: b"these are not the samples you are looking for\n" * 50)
_bytes("image.flac", "refused", _png)
_bytes("archive.ogg", "refused", _zip)
_bytes("random.m4a", "refused", lambda: np.random.default_rng(5).bytes(30000))
_bytes("id3 tag only.mp3", "refused",
       lambda: b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10)
_bytes("rate 0 Hz.wav", "refused", lambda: wav_bytes(rate=0, channels=1, frames=800))
_bytes("rate 1 Hz.wav", "either", lambda: wav_bytes(rate=1, channels=1, frames=60))
_bytes("rate 4294967295 Hz.wav", "either",
       lambda: wav_bytes(rate=0xFFFFFFFF, channels=1, frames=8000))
_bytes("rate 384000 Hz.wav", "either", lambda: wav_bytes(rate=384000, channels=1,
                                                          frames=384000))
_bytes("float samples, some NaN.wav", "either",
       lambda: float_wav_bytes(np.where(np.arange(32000) % 100 == 0, np.nan,
                                        _tone(32000)).astype(np.float32)))
_bytes("float samples, some infinite.wav", "either",
       lambda: float_wav_bytes(np.where(np.arange(32000) % 100 == 0, np.inf,
                                        _tone(32000)).astype(np.float32)))
_bytes("float samples at 1e30.wav", "either",
       lambda: float_wav_bytes((_tone(32000) * 1e30).astype(np.float32)))
_bytes("0 channels.wav", "refused", lambda: wav_bytes(rate=8000, channels=0, frames=800))
_bytes("1000 channels.wav", "refused", lambda: wav_bytes(rate=8000, channels=1000, frames=50))
_bytes("64 channels.wav", "either", lambda: wav_bytes(rate=8000, channels=64, frames=800))
_bytes("header says 2 GB.wav", "refused",
       lambda: wav_bytes(rate=8000, channels=1, frames=8000, declared=0x7FFFFFF0))
_bytes("header only.wav", "refused",
       lambda: wav_bytes(rate=8000, channels=1, frames=0, declared=64000))

#: headers naming no codec FFmpeg has: PyAV gives the stream no codec context at all
NO_CODEC: dict[str, Callable[[], bytes]] = {
    "0 bits per sample.wav": lambda: wav_bytes(rate=8000, channels=1, bits=0, frames=800),
    "105 bits per sample.wav": lambda: wav_bytes(rate=8000, channels=1, bits=105, frames=800),
    "format tag 0x7777.wav": lambda: wav_bytes(rate=8000, channels=1, frames=800,
                                               fmt_tag=0x7777),
}


@_bad("video only.mp4", "either")  # refused while homage indexed audio only; now a video work
def _video_only(path: Path) -> Path:
    return write_video_only(path)


@_bad("really a wav.mp3", "indexed")
def _wav_named_mp3(path: Path) -> Path:
    scratch = write_audio(path.with_name(".really.wav"), music(960))
    scratch.rename(path)
    return path


@_bad("ten minutes of silence.flac", "either")
def _silence(path: Path) -> Path:
    return silence(path, rate=8000, seconds=600)


#: small files that decode to hours (the decompression bombs of audio)
BOMBS: dict[str, Callable[[Path], Path]] = {
    # 36 hours of FLAC silence at 1 Hz: a few kilobytes, declares more than the 24 h limit
    "36 hours at 1 Hz.flac": lambda p: silence(p, rate=1, seconds=36 * 3600),
    # 20 kB of PCM at 1 Hz: declares 2.8 hours, each byte pair a second
    "20 kB at 1 Hz.wav": lambda p: (p.write_bytes(wav_bytes(rate=1, channels=1,
                                                            frames=10000)), p)[1],
}
