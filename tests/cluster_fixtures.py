"""Fixtures of the cluster tests, a plugin rather than a conftest (other tests import
``conftest`` by name): one local Ray of 2 CPUs for the session (started in-process with
``ray.init(num_cpus=2)``, several seconds, so once), and media folders to index."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from synth_music import make_score, render, write_audio


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[ModuleType]:
    """Ray with 2 CPUs, as ``.ci/run``'s machine has; ``index_on_ray`` uses it as it is."""
    ray = pytest.importorskip("ray", reason="the cluster tests need homage[cluster]")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR, object_store_memory=128 * 2**20)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of eight 12-second pieces in three formats, one in a sub-folder."""
    root = tmp_path_factory.mktemp("cluster-music")
    (root / "more").mkdir()
    for i, (suffix, codec) in enumerate([(".flac", "flac"), (".wav", "pcm_s16le"),
                                         (".ogg", "libopus")] * 2 + [(".flac", "flac")] * 2):
        folder = root / "more" if i == 7 else root
        extra = {"codec_rate": 48000} if codec == "libopus" else {}
        write_audio(folder / f"piece{i}{suffix}", render(make_score(700 + i, 12.0)),
                    codec=codec, **extra)
    return root
