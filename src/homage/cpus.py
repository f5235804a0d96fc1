"""How many threads a compute library should run in this process.

Why it matters: a process that starts as many threads as the machine has cores is right on
its own and wrong beside its siblings.  Two Ray workers on two cores, each running ONNX
Runtime and FFmpeg on both cores, spend their time taking cores from each other (measured:
×1.08–1.76 instead of ×2 for two workers).  Schedulers say what a process may use in
``OMP_NUM_THREADS`` (Ray sets it to an actor's CPUs, batch systems do the same), and the
kernel says it in the process's CPU affinity; the smaller wins.
"""

from __future__ import annotations

import os


def cpu_budget() -> int:
    """The CPUs this process should keep busy (at least 1).

    ``OMP_NUM_THREADS`` where a scheduler or the user has set it to a positive number,
    otherwise the CPUs the process may run on.
    """
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    try:
        asked = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return max(1, allowed)
    return max(1, min(asked, allowed)) if asked > 0 else max(1, allowed)


def inference_threads(*, most: int = 2) -> int:
    """Threads for one model's inference: the CPU budget, at most ``most``.

    Why a cap: frames come in batches of a few dozen small pictures, which stop running
    faster past two threads, and the frame decoder and the matcher want the other cores.
    """
    return min(most, cpu_budget())


def describing_threads(*, query: bool) -> tuple[int, int]:
    """``(inference, decoder)`` threads for describing a video while a thread beside decodes it.

    A reference is looked at once per frame: decoding is the larger half of the work, and the
    model does best on one thread, leaving the decoder a core (a 720p film on 2 cores: 18.7 s
    against 21.3 s with two threads each).  A query's frames are also looked at in their
    insets (and flipped, for a descriptor that tells mirror images apart): the model is the
    larger half and takes ``inference_threads()`` (six queries of the video benchmark on 2
    cores: 27.4 s against 32.9 s with one).  The decoder gets what inference leaves, at least
    one.
    """
    budget = cpu_budget()
    inference = inference_threads() if query else min(inference_threads(), max(1, budget - 1))
    return inference, max(1, budget - inference)
