"""ONNX Runtime sessions of one model file, one per thread count.

Why more than one: the right number of inference threads depends on what runs beside the
model.  Describing a film for the library, the decoder thread needs a core of its own, and
one inference thread is fastest; describing a query (twice: as decoded and mirrored), the
model is the bottleneck and wants two (see ``homage.cpus.describing_threads``).  A session's
thread count is fixed when it is created, so each count gets its own, made on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime


class SessionPool:
    """The sessions of the model at ``path`` (loaded lazily, kept for the process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._by_threads: dict[int, onnxruntime.InferenceSession] = {}

    def get(self, threads: int) -> onnxruntime.InferenceSession:
        """The session running ``threads`` intra-op threads (created on first use)."""
        session = self._by_threads.get(threads)
        if session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(str(self.path), options,
                                                   providers=["CPUExecutionProvider"])
            self._by_threads[threads] = session
        return session
