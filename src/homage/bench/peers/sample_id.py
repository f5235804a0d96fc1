"""sample-id: SIFT keypoints on a constant-Q spectrogram, built for sample identification.

sample-id 0.1.27 (2022) requires Python < 3.9, NumPy < 1.20 (for its numba 0.52) and the
vlfeat C library for its ``cyvlfeat`` SIFT; vlfeat comes from Debian's ``libvlfeat-dev``,
unpacked into the cache unless the machine already has it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from homage.bench.peers import _env
from homage.bench.peers._base import VenvAudioPeer

PACKAGE = "sample-id==0.1.27"

#: Versions that sample-id's loose ranges allow but that cannot work together today:
#: numba 0.52 fails on NumPy >= 1.20 (``np.long``), and cyvlfeat needs Cython < 3.
CONSTRAINTS = ("numpy==1.19.5", "numba==0.52.0", "llvmlite==0.35.0", "Cython<0.30")


class SampleIdPeer(VenvAudioPeer):
    """sample-id with its training settings and ``Matcher.find_samples`` defaults.

    Its ``Sample`` results carry query and reference start/end times and a confidence in
    [0, 1], which are used as they are.
    """

    name: ClassVar[str] = "sample-id"
    env_name: ClassVar[str] = "sample-id"
    driver: ClassVar[str] = "drive_sample_id.py"
    sample_rate: ClassVar[int] = 22050

    def _driver_env(self) -> dict[str, str]:
        """The unpacked vlfeat library, for when the build's rpath no longer points at it (the
        environment was built under another path, or moved)."""
        libs = sorted({str(p.parent) for p in (self.peer_dir / "vlfeat").rglob("libvl.so*")})
        return {"LD_LIBRARY_PATH": os.pathsep.join(libs)} if libs else {}

    def _spec(self) -> dict[str, object]:
        return {"package": PACKAGE, "constraints": list(CONSTRAINTS), "cyvlfeat": ">=0.7,<0.8"}

    def _install(self, peer_dir: Path, log: Path) -> Path:
        base = _env.find_python(["3.8", "3.7"])
        if base is None:
            raise _env.SetupFailed("needs a Python 3.8 or 3.7 interpreter (sample-id: <3.9)")
        python = _env.create_venv(base, peer_dir / "venv", log=log)
        constraints = peer_dir / "constraints.txt"
        constraints.write_text("\n".join(CONSTRAINTS) + "\n", encoding="utf-8")
        # sample-id depends on the retired "sklearn" alias package, which refuses to install
        # unless told that this is deliberate.
        env = {"SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL": "True"}
        _env.pip_install(python, ["-c", constraints, PACKAGE], log=log, env=env)
        _env.pip_install(python, ["-c", constraints, "Cython", "setuptools<70", "wheel"], log=log)
        include, libdir = _vlfeat(peer_dir, log)
        flags = {"CFLAGS": f"-I{include}", "LDFLAGS": f"-L{libdir} -Wl,-rpath,{libdir}"}
        # cyvlfeat's setup.py imports numpy, so it must build against the venv's own numpy.
        _env.pip_install(
            python,
            ["--no-build-isolation", "-c", constraints, "cyvlfeat>=0.7,<0.8"],
            log=log,
            env=flags,
        )
        # pip may reuse a cached cyvlfeat wheel whose rpath names another build's folder, so
        # the check (like every run) says where vlfeat is.
        _env.run_logged(
            [python, "-c", "import cyvlfeat.sift, sample_id.ann.annoy, sample_id.fingerprint"],
            log=log,
            env={**_env.clean_env(), "LD_LIBRARY_PATH": str(libdir)},
        )
        return python


def _vlfeat(peer_dir: Path, log: Path) -> tuple[Path, Path]:
    """Include and library directories of vlfeat: the system's, else Debian's unpacked."""
    system_header = Path("/usr/include/vl/sift.h")
    system_libs = sorted(Path("/usr/lib").glob("*/libvl.so")) + sorted(
        Path("/usr/lib").glob("libvl.so")
    )
    if system_header.exists() and system_libs:
        return system_header.parent.parent, system_libs[0].parent
    root = _env.debian_files(["libvlfeat1", "libvlfeat-dev"], peer_dir / "vlfeat", log=log)
    headers = sorted(root.glob("usr/include/vl/sift.h"))
    libs = sorted(root.glob("usr/lib/**/libvl.so"))
    if not headers or not libs:
        raise _env.SetupFailed("Debian's libvlfeat-dev did not provide vl/sift.h and libvl.so")
    return headers[0].parent.parent, libs[0].parent
