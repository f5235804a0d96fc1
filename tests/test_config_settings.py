"""``homage.config``: defaults, overrides, the TOML file and where the library lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from homage.config import KINDS, Settings, default_library_dir, load_settings, parse_kinds
from homage.errors import ParameterError


def test_defaults() -> None:
    settings = Settings()
    assert settings.kinds == KINDS == ("audio", "copy", "homage")
    assert settings.threshold == 0.5
    assert settings.max_media_seconds == 24 * 3600


def test_library_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_library_dir() == tmp_path / "xdg" / "homage" / "library"
    monkeypatch.setenv("HOMAGE_LIBRARY", str(tmp_path / "chosen"))
    assert default_library_dir() == tmp_path / "chosen"
    assert Settings().library == tmp_path / "chosen"
    monkeypatch.setenv("HOMAGE_LIBRARY", "~/lib")
    assert default_library_dir() == Path.home() / "lib"


@pytest.mark.parametrize(("text", "kinds"), [
    ("audio", ("audio",)), ("audio,copy", ("audio", "copy")), (" homage , audio ",
                                                              ("homage", "audio")),
])
def test_parse_kinds(text: str, kinds: tuple[str, ...]) -> None:
    assert parse_kinds(text) == kinds


@pytest.mark.parametrize("text", ["nonsense", "audio,video", "", "audio,", ()])
def test_parse_kinds_refuses_unknown_kinds(text: str | tuple[str, ...]) -> None:
    with pytest.raises(ParameterError, match="choose from audio, copy, homage"):
        parse_kinds(text)


def test_overrides_ignore_none_and_check_ranges(tmp_path: Path) -> None:
    base = Settings(library=tmp_path)
    assert base.with_overrides(library=None, threshold=None, kinds=None) == base
    changed = base.with_overrides(threshold=0.75, kinds="audio")
    assert (changed.threshold, changed.kinds) == (0.75, ("audio",))
    assert base.threshold == 0.5  # frozen: a new object
    for bad in (-0.01, 1.01, float("nan")):
        with pytest.raises(ParameterError, match="threshold"):
            base.with_overrides(threshold=bad)


def test_load_settings_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = tmp_path / "homage.toml"
    config.write_text('threshold = 0.7\nkinds = "audio"\nlibrary = "~/lib"\n'
                      "max_media_seconds = 600.0\n")
    settings = load_settings(config)
    assert settings.threshold == 0.7
    assert settings.kinds == ("audio",)
    assert settings.library == tmp_path / "lib"
    assert settings.max_media_seconds == 600.0
    assert load_settings(None) == Settings()


@pytest.mark.parametrize(("text", "message"), [
    ("threshold = 2\n", "threshold must be between"),
    ("colour = 'blue'\n", "unknown settings"),
    ("threshold = \n", "cannot read settings"),
    ('kinds = "sounds"\n', "unknown kind"),
])
def test_load_settings_refuses_bad_files(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "homage.toml"
    config.write_text(text)
    with pytest.raises(ParameterError, match=message):
        load_settings(config)


def test_load_settings_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="cannot read settings") as info:
        load_settings(tmp_path / "missing.toml")
    assert str(tmp_path / "missing.toml") in str(info.value)


def test_kinds_as_a_toml_array(tmp_path: Path) -> None:
    config = tmp_path / "homage.toml"
    config.write_text('kinds = ["audio", "copy"]\n')
    assert load_settings(config).kinds == ("audio", "copy")


@pytest.mark.parametrize("text", ['threshold = "0.9"\n', 'max_media_seconds = "lots"\n'])
def test_wrongly_typed_settings_are_refused(tmp_path: Path, text: str) -> None:
    config = tmp_path / "homage.toml"
    config.write_text(text)
    try:
        settings = load_settings(config)
    except ParameterError:
        return
    assert isinstance(settings.threshold, float)
    assert isinstance(settings.max_media_seconds, float)
