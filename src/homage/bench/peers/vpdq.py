"""vPDQ: Meta's video PDQ (PyPI ``vpdq``), one PDQ hash per second of video.

``pip install vpdq`` compiles vPDQ's C++ and Cython binding against FFmpeg's libraries
through ``pkg-config``, so it needs a C++ compiler, ``pkg-config`` and the FFmpeg
development files (``libavcodec-dev`` and friends).  When the machine has no FFmpeg
development files, Debian's are downloaded with the exact-version runtime libraries they
belong to and unpacked into the cache (``apt-get download`` + ``dpkg-deb -x``: no root
needed); the build then links against them and the driver finds them again through its
rpath and ``LD_LIBRARY_PATH``.

vPDQ's matcher only reports what percentage of each video's frames matched; how the
driver turns matched frames into segments is in ``_drivers/_video.py`` and in every
result's ``notes``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, ClassVar

from homage.bench.peers import _env
from homage.bench.peers._base import VenvVideoPeer

PACKAGE = "vpdq==0.2.5"

#: pkg-config modules vPDQ's CMakeLists asks for.
LIBAV_MODULES = (
    "libavdevice",
    "libavfilter",
    "libavformat",
    "libavcodec",
    "libswresample",
    "libswscale",
    "libavutil",
)

#: Debian's development packages for those modules (libpostproc-dev: libavfilter.pc needs it).
LIBAV_DEV_PACKAGES = (
    "libavcodec-dev",
    "libavformat-dev",
    "libavutil-dev",
    "libswscale-dev",
    "libavdevice-dev",
    "libavfilter-dev",
    "libswresample-dev",
    "libpostproc-dev",
)


class VpdqPeer(VenvVideoPeer):
    """vPDQ as shipped (1 hash/s, quality >= 50, distance < 31), segments by frame chains."""

    name: ClassVar[str] = "vpdq"
    env_name: ClassVar[str] = "vpdq"
    driver: ClassVar[str] = "drive_vpdq.py"

    def __init__(
        self,
        *,
        seconds_per_hash: float = 1.0,
        thread_count: int = 0,
        distance_tolerance: int = 31,
        quality_tolerance: int = 50,
        gap_seconds: float = 3.0,
        offset_tolerance: float = 2.0,
        suppress_overlap: float = 0.5,
    ) -> None:
        super().__init__()
        self.options: dict[str, Any] = {
            "seconds_per_hash": seconds_per_hash,
            "thread_count": thread_count,
            "distance_tolerance": distance_tolerance,
            "quality_tolerance": quality_tolerance,
            "gap_seconds": gap_seconds,
            "offset_tolerance": offset_tolerance,
            "suppress_overlap": suppress_overlap,
        }

    def _prerequisites(self) -> str | None:
        if shutil.which("pkg-config") is None:
            return "needs pkg-config to build (Debian: pkg-config)"
        if not any(shutil.which(cxx) for cxx in ("c++", "g++", "clang++")):
            return "needs a C++ compiler to build (Debian: g++)"
        return None

    def _spec(self) -> dict[str, object]:
        return {"package": PACKAGE, "python": ">=3.8", "libav": list(LIBAV_DEV_PACKAGES)}

    def _options(self) -> dict[str, Any]:
        return dict(self.options)

    def _driver_env(self) -> dict[str, str]:
        libs = _libdirs(self.peer_dir / "libav" / "root")
        return {"LD_LIBRARY_PATH": os.pathsep.join(map(os.fspath, libs))} if libs else {}

    def _install(self, peer_dir: Path, log: Path) -> Path:
        base = _env.current_python((3, 8))
        if base is None:
            raise _env.SetupFailed("needs Python >= 3.8 (vpdq's requirement)")
        python = _env.create_venv(base, peer_dir / "venv", log=log)
        _env.pip_install(python, ["numpy"], log=log)
        build_env: dict[str, str] = {}
        if not _system_has_libav():
            build_env = _unpacked_libav(peer_dir / "libav", log)
        # No wheel cache: a cached wheel would carry the rpath of another build's folder.
        _env.pip_install(python, ["--no-cache-dir", PACKAGE], log=log, env=build_env)
        libs = _libdirs(peer_dir / "libav" / "root")
        run_env = _env.clean_env(
            {"LD_LIBRARY_PATH": os.pathsep.join(map(os.fspath, libs))} if libs else None
        )
        _env.run_logged(
            [python, "-c", "import vpdq, numpy; vpdq.hamming_distance"], log=log, env=run_env
        )
        return python


def _system_has_libav() -> bool:
    """Whether the machine's own pkg-config finds every FFmpeg module vPDQ links."""
    try:
        proc = subprocess.run(
            ["pkg-config", "--exists", *LIBAV_MODULES],
            capture_output=True,
            env=_env.clean_env(),
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _libdirs(root: Path) -> list[Path]:
    """Directories of an unpacked Debian root holding ``libavcodec.so*`` and friends."""
    if not root.is_dir():
        return []
    return sorted({p.parent for p in root.glob("usr/lib/**/libavcodec.so*")})


def _unpacked_libav(dest: Path, log: Path) -> dict[str, str]:
    """Unpack Debian's FFmpeg development files, with the runtime libraries of the very same
    version, under ``dest``; return the build environment that points pkg-config at them.

    The runtime package names differ between Debian releases (``libavcodec59`` in
    bookworm), so they are read from the development packages' own ``Depends``.
    """
    _env.debian_files(LIBAV_DEV_PACKAGES, dest, log=log)
    runtime = set()
    for deb in sorted((dest / "debs").glob("*.deb")):
        depends = _env.run_logged(["dpkg-deb", "-f", deb, "Depends"], log=log, timeout=60)
        for item in depends.split(","):
            m = re.match(r"\s*(lib(?:av|sw|postproc)[a-z]*\d+)\s*\(=\s*([^)\s]+)\s*\)", item)
            if m:
                runtime.add(f"{m.group(1)}={m.group(2)}")
    if not runtime:
        raise _env.SetupFailed("could not tell which FFmpeg runtime packages the -dev ones need")
    root = _env.debian_files([*LIBAV_DEV_PACKAGES, *sorted(runtime)], dest, log=log)
    pcs = sorted(root.glob("usr/lib/**/pkgconfig/libavcodec.pc"))
    libs = _libdirs(root)
    if not pcs or not libs:
        raise _env.SetupFailed("Debian's FFmpeg packages did not provide libavcodec.pc and .so")
    pc_dirs = os.pathsep.join(sorted({os.fspath(p.parent) for p in pcs}))
    rpath = " ".join(f"-Wl,-rpath,{d}" for d in libs)
    return {
        "PKG_CONFIG_SYSROOT_DIR": os.fspath(root),
        "PKG_CONFIG_PATH": pc_dirs,
        "PKG_CONFIG_LIBDIR": pc_dirs,
        "LDFLAGS": f"{os.environ.get('LDFLAGS', '')} {rpath}".strip(),
    }
