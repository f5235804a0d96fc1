"""audfprint2: Shazam-style spectral-peak landmarks (Dan Ellis's audfprint, packaged 2025).

Two configurations share one environment: as shipped, and with each reference also stored
at 21 speeds from ×0.90 to ×1.10 in 1% steps, the classic way to make exact-hash landmarks
survive a speed change (pitch and tempo together) at 21 times the index cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from homage.bench.peers import _env
from homage.bench.peers._base import VenvAudioPeer

PACKAGE = "audfprint2==0.1.2"

#: Speeds of the stored copies: ×0.90 … ×1.10 in 1% steps.
SPEED_STEPS: tuple[float, ...] = tuple(round(0.90 + 0.01 * i, 2) for i in range(21))


class Audfprint2Peer(VenvAudioPeer):
    """audfprint2 as shipped: CLI defaults, up to ``max_matches`` aligned matches a query.

    audfprint reports an aligned hash count per (reference, time offset) and, with
    ``--find-time-range``, the first and last query times of the aligned hashes; the
    reference segment is the query segment shifted by the offset.
    """

    name: ClassVar[str] = "audfprint2"
    env_name: ClassVar[str] = "audfprint2"
    driver: ClassVar[str] = "drive_audfprint2.py"
    sample_rate: ClassVar[int] = 11025
    speeds: ClassVar[tuple[float, ...]] = (1.0,)

    def __init__(self, *, max_matches: int = 20) -> None:
        super().__init__()
        self.max_matches = max_matches

    def _spec(self) -> dict[str, object]:
        return {"package": PACKAGE, "python": ">=3.11"}

    def _install(self, peer_dir: Path, log: Path) -> Path:
        base = _env.current_python((3, 11))
        if base is None:
            raise _env.SetupFailed("needs Python >= 3.11 (audfprint2's requirement)")
        python = _env.create_venv(base, peer_dir / "venv", log=log)
        _env.pip_install(python, [PACKAGE], log=log)
        _env.run_logged([python, "-c", "import audfprint2.core.matcher"], log=log)
        return python

    def _options(self) -> dict[str, Any]:
        return {"speeds": list(self.speeds), "max_matches": self.max_matches}


class Audfprint2SpeedsPeer(Audfprint2Peer):
    """audfprint2 with references stored at ×0.90–×1.10 in 1% steps.

    Match times on a copy played ``s`` times faster map back to the original reference as
    ``t * s``; hits of neighbouring copies on the same stretch of a query are merged,
    keeping the copy with the most aligned hashes.
    """

    name: ClassVar[str] = "audfprint2-speeds"
    speeds: ClassVar[tuple[float, ...]] = SPEED_STEPS
