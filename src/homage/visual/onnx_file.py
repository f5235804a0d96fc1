"""A user's own ONNX image model as the frame descriptor (``--descriptor onnx:PATH``).

No CLIP-like model ships in a registry package here, but a user may have one (or any image
embedder) exported to ONNX.  Naming it ``onnx:/path/to/model.onnx`` makes it the library's
descriptor: copies and homages are then matched on its vectors, with nothing else changed.

The model is expected to take one float32 NCHW batch of RGB images normalised with the
ImageNet mean and deviation (what torchvision, timm and open_clip image towers export), at the
static height and width its input declares (224 × 224 when dynamic).  Its first output is the
embedding: (n, d) as it is, or a (n, c, h, w) feature map, GeM-pooled (p = 3) as the default
descriptor is.  Rows are L2-normalised.  The library stores the path *and* the file's hash, so
a model replaced at the same path is refused rather than mixed with the old one's vectors.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from homage.cpus import inference_threads
from homage.errors import ParameterError
from homage.visual.base import FrameDescriptor, l2_normalise
from homage.visual.onnx_sessions import SessionPool

PREFIX = "onnx:"
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)
_DEFAULT_SIDE = 224


def model_name(path: str | Path) -> str:
    """The descriptor name to store for the model at ``path``: ``onnx:PATH#sha256-prefix``."""
    resolved = Path(path).expanduser().resolve()
    return f"{PREFIX}{resolved}#{_digest(resolved)}"


class OnnxFileDescriptor(FrameDescriptor):
    """Frames described by the ONNX model named ``onnx:PATH`` (optionally ``#HASH``).

    Raises
    ------
    ParameterError
        The file is missing, not a loadable ONNX model, has another hash than the one named,
        or does not take one image batch.
    """

    mirror_invariant = False

    def __init__(self, name: str, *, threads: int | None = None, batch_size: int = 16) -> None:
        if not name.startswith(PREFIX):
            raise ParameterError(f"not an ONNX descriptor name: {name!r}")
        spec = name[len(PREFIX):]
        path_text, _, expected = spec.partition("#")
        self.path = Path(path_text).expanduser()
        if not self.path.is_file():
            raise ParameterError(f"{self.path}: ONNX model not found")
        if expected and not _digest(self.path).startswith(expected):
            raise ParameterError(f"{self.path}: the model file changed since this library was "
                                 "built with it; re-index into a new library folder")
        self.name = name
        self.batch_size = batch_size
        self.threads = inference_threads() if threads is None else threads
        self._sessions = SessionPool(self.path)
        try:
            shape = self._sessions.get(self.threads).get_inputs()[0].shape
        except Exception as exc:  # onnxruntime raises its own untyped errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ParameterError(f"{self.path}: not a loadable ONNX model ({first})") from exc
        if len(shape) != 4:
            raise ParameterError(f"{self.path}: expected one NCHW image input, got {shape}")
        height, width = (d if isinstance(d, int) and d > 0 else _DEFAULT_SIDE
                         for d in shape[2:])
        self.input_size = (height, width)
        self.dim = int(self._run(np.zeros((1, height, width, 3), np.uint8)).shape[1])

    def describe(self, frames: np.ndarray, *, threads: int | None = None) -> np.ndarray:
        """(n, h, w, 3) uint8 RGB at ``input_size`` → (n, dim) float32 unit rows."""
        frames = np.asarray(frames)
        if len(frames) == 0:
            return np.zeros((0, self.dim), np.float32)
        parts = [self._run(frames[i:i + self.batch_size], threads)
                 for i in range(0, len(frames), self.batch_size)]
        return l2_normalise(np.concatenate(parts))

    def _run(self, frames: np.ndarray, threads: int | None = None) -> np.ndarray:
        session = self._sessions.get(self.threads if threads is None else threads)
        batch = ((frames.astype(np.float32) / 255.0 - _MEAN) / _STD).transpose(0, 3, 1, 2)
        feed = {session.get_inputs()[0].name: np.ascontiguousarray(batch)}
        output = np.asarray(session.run(None, feed)[0], dtype=np.float32)
        if output.ndim == 4:  # a feature map: GeM-pooled, as the default descriptor is
            output = np.mean(np.maximum(output, 1e-6) ** 3, axis=(2, 3)) ** (1 / 3)
        if output.ndim != 2 or len(output) != len(frames):
            raise ParameterError(f"{self.path}: first output has shape {output.shape}; "
                                 "expected (n, d) or (n, c, h, w)")
        return output

def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
