"""ONNX Runtime sessions of one model file, one per thread count.

Why more than one: the right number of inference threads depends on what runs beside the
model.  Describing a film for the library, the decoder thread needs a core of its own, and
one inference thread is fastest; describing a query (its frames and their insets), the
model is the bottleneck and wants two (see ``homage.cpus.describing_threads``).  A session's
thread count is fixed when it is created, so each count gets its own, made on first use.
All sessions of the process draw on one memory arena: each would otherwise grow its own to
the peak of a batch (two EfficientNet sessions: 871 MB peak apart, 552 MB sharing).
"""

from __future__ import annotations

import functools
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
            _register_shared_arena()
            options.add_session_config_entry("session.use_env_allocators", "1")
            session = onnxruntime.InferenceSession(str(self.path), options,
                                                   providers=["CPUExecutionProvider"])
            self._by_threads[threads] = session
        return session


@functools.cache
def _register_shared_arena() -> None:
    """Register, once per process, the CPU arena every session then allocates from."""
    import onnxruntime

    onnxruntime.create_and_register_allocator(
        onnxruntime.OrtMemoryInfo("Cpu", onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                  onnxruntime.OrtMemType.DEFAULT),
        onnxruntime.OrtArenaCfg(0, -1, -1, -1))
