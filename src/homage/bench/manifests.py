"""Reading a corpus manifest: the one check every corpus makes before trusting its cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from homage.errors import HomageError


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
