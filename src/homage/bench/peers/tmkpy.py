"""tmkpy: Python bindings (Meedan, PyPI ``tmkpy``) of Meta's TMK+PDQF video hash.

TMK+PDQF hashes a whole video into one fixed-size set of temporal-match-kernel features over
PDQ-float frame features (15 frames a second, decoded by the ``ffmpeg`` command).  It says how
alike two whole videos are, never where: level 1 is the cosine of the two mean frame
features, level 2 the best temporal-kernel score over time offsets.

tmkpy 0.1.1 is an sdist whose ``setup.py`` runs SWIG: set-up installs PyPI's ``swig`` into the
venv first and builds without isolation so the build finds it.  (The sdist carries a prebuilt
``libtmk.a`` that ``make`` leaves as it is.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, ClassVar

from homage.bench.peers import _env
from homage.bench.peers._base import VenvVideoPeer

PACKAGE = "tmkpy==0.1.1"
BUILD_REQUIREMENTS = ("swig", "setuptools", "wheel", "numpy")


class TmkpyPeer(VenvVideoPeer):
    """TMK+PDQF, whole video against whole video: one prediction per pair, scored by level 2."""

    name: ClassVar[str] = "tmkpy"
    env_name: ClassVar[str] = "tmkpy"
    driver: ClassVar[str] = "drive_tmkpy.py"
    localises: ClassVar[bool] = False

    def _prerequisites(self) -> str | None:
        if shutil.which("ffmpeg") is None:
            return "needs the ffmpeg command (TMK decodes through it)"
        if not any(shutil.which(cxx) for cxx in ("c++", "g++", "clang++")):
            return "needs a C++ compiler to build (Debian: g++)"
        return None

    def _spec(self) -> dict[str, object]:
        return {"package": PACKAGE, "build": list(BUILD_REQUIREMENTS), "python": ">=3.8"}

    def _options(self) -> dict[str, Any]:
        return {"ffmpeg": shutil.which("ffmpeg") or "ffmpeg", "threads": 2}

    def _install(self, peer_dir: Path, log: Path) -> Path:
        base = _env.current_python((3, 8))
        if base is None:
            raise _env.SetupFailed("needs Python >= 3.8")
        python = _env.create_venv(base, peer_dir / "venv", log=log)
        _env.pip_install(python, list(BUILD_REQUIREMENTS), log=log)
        path = os.pathsep.join([os.fspath(python.parent), os.environ.get("PATH", "")])
        # No wheel cache: the build must see this venv's swig, not reuse another's wheel.
        _env.pip_install(
            python,
            ["--no-build-isolation", "--no-cache-dir", PACKAGE],
            log=log,
            env={"PATH": path},
        )
        _env.run_logged([python, "-c", "import tmkpy; tmkpy.hashVideo"], log=log)
        return python
