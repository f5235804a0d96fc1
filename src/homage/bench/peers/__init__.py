"""Other audio- and video-matching systems, installed from PyPI and run beside homage in
``bench audio`` and ``bench video``.

Each peer lives in its own virtual environment under a cache directory (its pinned, often
old, stack must never meet homage's), is driven by a small script run with that
environment's interpreter, and reports its predictions and costs as a :class:`PeerResult`.
A peer that cannot be installed here says why from :meth:`AudioPeer.setup` (or
:meth:`VideoPeer.setup`) instead of failing the benchmark.

>>> peer = AVAILABLE_AUDIO_PEERS["audfprint2"]()
>>> reason = peer.setup(default_work_dir())          # doctest: +SKIP
>>> result = peer.run(references, queries)           # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from homage.bench.peers._base import (
    AudioPeer,
    PeerError,
    PeerResult,
    VenvAudioPeer,
    VenvVideoPeer,
    VideoPeer,
    to_wav,
)
from homage.bench.peers.audfprint2 import Audfprint2Peer, Audfprint2SpeedsPeer
from homage.bench.peers.dejavu import PyDejavuPeer
from homage.bench.peers.sample_id import SampleIdPeer
from homage.bench.peers.tmkpy import TmkpyPeer
from homage.bench.peers.videohash import VideoHashPeer
from homage.bench.peers.vpdq import VpdqPeer
from homage.config import default_cache_dir

__all__ = [
    "AVAILABLE_AUDIO_PEERS",
    "AVAILABLE_VIDEO_PEERS",
    "Audfprint2Peer",
    "Audfprint2SpeedsPeer",
    "AudioPeer",
    "PeerError",
    "PeerResult",
    "PyDejavuPeer",
    "SampleIdPeer",
    "TmkpyPeer",
    "VenvAudioPeer",
    "VenvVideoPeer",
    "VideoHashPeer",
    "VideoPeer",
    "VpdqPeer",
    "default_work_dir",
    "to_wav",
]

#: Peers of ``homage bench audio``, by the name results report them under.
AVAILABLE_AUDIO_PEERS: dict[str, type[AudioPeer]] = {
    SampleIdPeer.name: SampleIdPeer,
    Audfprint2Peer.name: Audfprint2Peer,
    Audfprint2SpeedsPeer.name: Audfprint2SpeedsPeer,
    PyDejavuPeer.name: PyDejavuPeer,
}

#: Peers of ``homage bench video``, by the name results report them under.
AVAILABLE_VIDEO_PEERS: dict[str, type[VideoPeer]] = {
    VpdqPeer.name: VpdqPeer,
    TmkpyPeer.name: TmkpyPeer,
    VideoHashPeer.name: VideoHashPeer,
}


def default_work_dir() -> Path:
    """Where peer environments and converted inputs are cached between runs.

    ``HOMAGE_PEERS_DIR`` overrides the per-user cache directory, e.g. to share one set of
    environments between CI jobs.
    """
    override = os.environ.get("HOMAGE_PEERS_DIR")
    if override:
        return Path(override)
    return default_cache_dir() / "peers"
