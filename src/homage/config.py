"""Settings: defaults in a dataclass, optionally overridden by a TOML file and the CLI.

Nothing is read at import time; callers build a ``Settings`` and pass it down.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from homage.audio import FingerprintSettings
from homage.errors import ParameterError
from homage.match.audio_align import AlignSettings
from homage.visual.prints import VisualSettings

KINDS = ("audio", "copy", "homage")
LIBRARY_ENV = "HOMAGE_LIBRARY"


#: URL schemes that name a PostgreSQL library rather than a library folder.
DATABASE_SCHEMES = ("postgresql", "postgres")


def is_database_url(location: object) -> bool:
    """Whether ``location`` is a ``postgresql://`` (or ``postgres://``) URL."""
    if not isinstance(location, str):
        return False
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.lower() in DATABASE_SCHEMES


def library_location(value: str | Path) -> Path | str:
    """Where a library is, from what a user typed: a database URL stays the string it is
    (``Path`` would fold its ``//``), anything else is a folder with ``~`` expanded."""
    if is_database_url(value):
        return str(value)
    return Path(value).expanduser()


def default_library_dir() -> Path | str:
    """``$HOMAGE_LIBRARY`` (a folder or a database URL), else
    ``$XDG_DATA_HOME/homage/library`` (``~/.local/share/...``)."""
    if os.environ.get(LIBRARY_ENV):
        return library_location(os.environ[LIBRARY_ENV])
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "homage" / "library"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/homage`` (``~/.cache/homage``): corpora and converted models."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "homage"


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, with defaults a user should rarely change."""

    #: a library folder, or a ``postgresql://`` URL (a string) for a shared library
    library: Path | str = field(default_factory=default_library_dir)
    kinds: tuple[str, ...] = KINDS
    #: matches scoring below this are not reported (see ``match.audio_align`` for the scale)
    threshold: float = 0.5
    #: longest audio decoded from one file, a guard against decompression bombs (24 h)
    max_media_seconds: float = 24 * 3600.0
    audio: FingerprintSettings = field(default_factory=FingerprintSettings)
    align: AlignSettings = field(default_factory=AlignSettings)
    visual: VisualSettings = field(default_factory=VisualSettings)

    def with_overrides(self, **overrides: object) -> Settings:
        """A copy with the given values (None means "keep"), checked and converted."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "descriptor" in clean:
            clean["visual"] = dataclasses.replace(
                self.visual, descriptor=parse_descriptor(clean.pop("descriptor")))
        if "kinds" in clean:
            clean["kinds"] = parse_kinds(clean["kinds"])  # type: ignore[arg-type]
        for key in ("threshold", "max_media_seconds"):
            if key in clean:
                clean[key] = _number(key, clean[key])
        if "threshold" in clean and not 0.0 <= clean["threshold"] <= 1.0:  # type: ignore[operator]
            raise ParameterError("threshold must be between 0 and 1")
        if "max_media_seconds" in clean and not 0 < clean["max_media_seconds"] < math.inf:  # type: ignore[operator]
            raise ParameterError("max_media_seconds must be a positive number of seconds")
        return dataclasses.replace(self, **clean)  # type: ignore[arg-type]


def _number(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ParameterError(f"{key} must be a number, not {value!r}")
    try:
        return float(value)
    except ValueError as exc:
        raise ParameterError(f"{key} must be a number, not {value!r}") from exc


def parse_kinds(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"audio,copy"`` or ``["audio", "copy"]`` → ``("audio", "copy")``, refusing unknown
    kinds."""
    parts = tuple(p.strip() for p in value.split(",")) if isinstance(value, str) \
        else tuple(value)
    unknown = [p for p in parts if p not in KINDS]
    if unknown or not parts:
        raise ParameterError(f"unknown kind {unknown or value!r}; choose from {', '.join(KINDS)}")
    return parts


def parse_descriptor(value: object) -> str:
    """A frame descriptor's name as the library stores it: a registered one, or
    ``onnx:PATH`` for the user's own ONNX model, stored with the model file's hash."""
    from homage.visual import AVAILABLE_DESCRIPTORS
    from homage.visual.onnx_file import PREFIX, model_name

    if not isinstance(value, str) or not value.strip():
        raise ParameterError(f"descriptor must be a name, not {value!r}")
    if value.startswith(PREFIX):
        path = Path(value[len(PREFIX):].partition("#")[0]).expanduser()
        if not path.is_file():
            raise ParameterError(f"{path}: ONNX model not found")
        return model_name(path)
    if value not in AVAILABLE_DESCRIPTORS:
        raise ParameterError(f"unknown descriptor {value!r}; choose from "
                             f"{', '.join(AVAILABLE_DESCRIPTORS)} or {PREFIX}PATH")
    return value


def load_settings(path: str | Path | None) -> Settings:
    """Settings from a TOML file (top-level keys ``threshold``, ``kinds``, ``library``,
    ``max_media_seconds``); defaults when ``path`` is None."""
    settings = Settings()
    if path is None:
        return settings
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ParameterError(f"{path}: cannot read settings ({exc})") from exc
    allowed = {"threshold", "kinds", "library", "max_media_seconds", "descriptor"}
    unknown = set(data) - allowed
    if unknown:
        raise ParameterError(f"{path}: unknown settings {sorted(unknown)}")
    if "library" in data:
        if not isinstance(data["library"], str) or not data["library"].strip():
            raise ParameterError(f"{path}: library must be a folder path or a database "
                                 f"URL, not {data['library']!r}")
        try:
            data["library"] = library_location(data["library"])
        except RuntimeError as exc:  # "~someone" who does not exist here
            raise ParameterError(f"{path}: library {data['library']!r}: {exc}") from exc
    if "kinds" in data and not isinstance(data["kinds"], str | list):
        raise ParameterError(f"{path}: kinds must be a string or a list, not {data['kinds']!r}")
    try:
        return settings.with_overrides(**data)
    except ParameterError as exc:
        raise ParameterError(f"{path}: {exc}") from exc
