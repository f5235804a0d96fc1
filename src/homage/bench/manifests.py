"""What every corpus builder shares: rendering its queries in parallel, and reading a
manifest back with the one check every corpus makes before trusting its cache."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

from homage.errors import HomageError

P = TypeVar("P")
R = TypeVar("R")


def read_manifest(root: Path, *, what: str, version: int) -> dict[str, Any]:
    """``root/manifest.json`` parsed, refused unless written by recipe ``version``.

    Raises
    ------
    HomageError
        No manifest, an unreadable one, or one written by another version of the recipe
        (``what`` names the corpus in the message: "audio corpus", "video corpus").
    """
    path = root / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HomageError(f"no {what} manifest here", path=path) from None
    except (OSError, ValueError) as exc:
        raise HomageError(f"unreadable {what} manifest: {exc}", path=path) from exc
    if manifest.get("version") != version:
        raise HomageError(
            f"{what} manifest version {manifest.get('version')!r}, expected {version}: "
            "rebuild it",
            path=path,
        )
    return manifest


def render_all(plans: Sequence[P], render: Callable[[P], R], *, workers: int,
               progress: Callable[[int, int], None] | None = None) -> list[R]:
    """``render(plan)`` for every plan on ``workers`` threads (the work runs in ffmpeg/sox
    children), results in plan order; ``progress(done, total)`` after each; the first
    failure cancels what has not started and is raised."""
    results: list[R | None] = [None] * len(plans)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(render, plan): i for i, plan in enumerate(plans)}
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(done, len(plans))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [r for r in results if r is not None]
