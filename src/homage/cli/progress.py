"""Progress bars for long work: files done, media seconds processed, speed and ETA."""

from __future__ import annotations

import sys

from tqdm import tqdm

from homage.pipeline import ProgressEvent
from homage.report.words import printable


class FileProgressBar:
    """A tqdm bar over files that also advances within a file as its media is processed.

    The bar counts files (so its ETA is per file), moving fractionally through each file by the
    seconds decoded; the postfix shows media seconds done and the speed in × real time.
    """

    def __init__(self, total_files: int, *, label: str, enabled: bool) -> None:
        self._bar = tqdm(
            total=total_files, unit="file", desc=label, disable=not enabled or None,
            file=sys.stderr, dynamic_ncols=True, leave=False,
            bar_format="{desc} {percentage:3.0f}%|{bar}| {n:.1f}/{total} files "
                       "[{elapsed}<{remaining}{postfix}]",
        )
        self._duration = 0.0
        self._within = 0.0
        self._media_seconds = 0.0
        self.failures: list[str] = []

    def __call__(self, event: ProgressEvent) -> None:
        bar = self._bar
        if event.stage == "start":
            self._duration = event.seconds
            self._within = 0.0
        elif event.stage == "advance":
            self._media_seconds += event.seconds
            if self._duration > 0:
                step = min(event.seconds / self._duration, 0.999 - self._within)
                if step > 0:
                    self._within += step
                    bar.update(step)
            rate = self._media_seconds / max(bar.format_dict["elapsed"], 1e-6)
            bar.set_postfix_str(f"{self._media_seconds:,.0f} s media, ×{rate:,.0f} real time",
                                refresh=False)
        elif event.stage in ("done", "failed"):
            bar.update(1.0 - self._within)
            self._within = 0.0
            self._duration = 0.0
            if event.stage == "failed":
                self.failures.append(event.message)
                bar.write(f"homage: skipped {printable(event.message)}", file=sys.stderr)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> FileProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
