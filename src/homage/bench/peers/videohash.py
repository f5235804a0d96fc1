"""videohash (PyPI, 2022): one 64-bit hash per whole video.

It samples a frame a second with the ``ffmpeg`` command, tiles the frames into a collage and
takes the collage's wavelet hash together with dominant colours.  It names whole-video pairs,
never segments.  Version 3.0.1 calls ``Image.ANTIALIAS``, which Pillow 10 removed, so Pillow
is held below 10.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar

from homage.bench.peers import _env
from homage.bench.peers._base import VenvVideoPeer

PACKAGE = "videohash==3.0.1"
CONSTRAINTS = ("Pillow<10",)


class VideoHashPeer(VenvVideoPeer):
    """videohash as shipped: one prediction per pair, scored 1 - Hamming distance / 64."""

    name: ClassVar[str] = "videohash"
    env_name: ClassVar[str] = "videohash"
    driver: ClassVar[str] = "drive_videohash.py"
    localises: ClassVar[bool] = False

    def _prerequisites(self) -> str | None:
        if shutil.which("ffmpeg") is None:
            return "needs the ffmpeg command (videohash extracts frames with it)"
        return None

    def _spec(self) -> dict[str, object]:
        return {"package": PACKAGE, "constraints": list(CONSTRAINTS), "python": ">=3.8"}

    def _install(self, peer_dir: Path, log: Path) -> Path:
        base = _env.current_python((3, 8))
        if base is None:
            raise _env.SetupFailed("needs Python >= 3.8")
        python = _env.create_venv(base, peer_dir / "venv", log=log)
        _env.pip_install(python, [PACKAGE, *CONSTRAINTS], log=log)
        _env.run_logged([python, "-c", "from videohash import VideoHash"], log=log)
        return python
