"""Coverage-guided fuzzing of homage's parsers of untrusted bytes with atheris (libFuzzer).

Not collected by pytest (the name does not start with ``test_``); ``test_safety_fuzz`` runs
it for a bounded time when atheris is installed.  Run it by hand for longer::

    pip install atheris
    python tests/safety/fuzz_atheris.py media -max_total_time=600
    python tests/safety/fuzz_atheris.py settings -runs=100000
    python tests/safety/fuzz_atheris.py library -max_total_time=300

Targets: ``media`` (probe + streamed decode of mutated wav/flac/mp3/ogg/m4a, seeded with real
files), ``settings`` (the TOML settings loader), ``library`` (opening and checking a damaged
SQLite library).  A target fails (libFuzzer reports the input) on any exception other than
``HomageError`` (``ParameterError`` for settings); ``--strict`` also fails on the known bugs
that have strict-xfail tests, which are otherwise tolerated (each kind printed once).
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import sys
import tempfile
from collections import Counter
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

with atheris.instrument_imports(include=["homage"]):
    from homage.config import load_settings
    from homage.errors import HomageError, ParameterError
    from homage.library import Library
    from homage.media import audio_chunks, probe

SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a")
#: exceptions of bugs that have strict-xfail tests in tests/safety: (class, message start)
KNOWN: dict[str, set[tuple[type[BaseException], str]]] = {
    "media": {(AttributeError, "'NoneType' object has no attribute 'name'"),
              (ValueError, "Frame does not match AudioResampler setup.")},
    "settings": {(TypeError, ""), (RuntimeError, "Could not determine home directory"),
                 (UnicodeDecodeError, "")},
    "library": {(sqlite3.DatabaseError, ""), (UnicodeDecodeError, ""), (ValueError, "")},
}
known_hits: Counter[tuple[str, str]] = Counter()
scratch = Path(tempfile.mkdtemp(prefix="homage-atheris-"))
atexit.register(shutil.rmtree, scratch, True)
strict = "--strict" in sys.argv


def tolerate_known(target: str, exc: Exception) -> None:
    text = str(exc)
    if strict or not any(isinstance(exc, k) and text.startswith(m) for k, m in KNOWN[target]):
        raise exc
    key = (type(exc).__name__, text[:60])
    if key not in known_hits:
        print(f"known bug hit (tolerated without --strict): {key}", file=sys.stderr)
    known_hits[key] += 1


def fuzz_media(data: bytes) -> None:
    if not data:
        return
    path = scratch / f"input{SUFFIXES[data[0] % len(SUFFIXES)]}"
    path.write_bytes(data[1:])
    try:
        probe(path)
        for _ in audio_chunks(path, sample_rate=8000, max_seconds=60.0):
            pass
    except HomageError:
        pass
    except Exception as exc:
        tolerate_known("media", exc)


def fuzz_settings(data: bytes) -> None:
    path = scratch / "homage.toml"
    path.write_bytes(data)
    try:
        load_settings(path)
    except ParameterError:
        pass
    except Exception as exc:
        tolerate_known("settings", exc)


def fuzz_library(data: bytes) -> None:
    folder = scratch / "library"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / "homage.sqlite").write_bytes(data)
    try:
        lib = Library.open(folder, create=False)
    except HomageError:
        return
    except Exception as exc:  # Library.open should say LibraryError, whatever the damage
        tolerate_known("library", exc)
        return
    with lib:
        try:
            lib.works()
            lib.integrity_problems()
        except sqlite3.Error:
            pass  # damage found while reading: the CLI reports it in one line
        except Exception as exc:
            tolerate_known("library", exc)


def media_seeds(corpus: Path) -> None:
    from synth_music import make_score, render, write_audio

    samples = render(make_score(1300, 1.0))
    encodings = ({"codec": "pcm_s16le"}, {"codec": "flac"}, {"codec": "libmp3lame"},
                 {"codec": "libopus", "codec_rate": 48000}, {"codec": "aac"})
    for i, (suffix, encoding) in enumerate(zip(SUFFIXES, encodings, strict=True)):
        made = write_audio(scratch / f"seed{suffix}", samples, **encoding)
        (corpus / f"seed{i}").write_bytes(bytes([i]) + made.read_bytes())


def library_seeds(corpus: Path) -> None:
    from homage.config import Settings
    from homage.pipeline import index_paths
    from synth_music import make_score, render, write_audio

    music = scratch / "music"
    music.mkdir()
    write_audio(music / "a.wav", render(make_score(1301, 2.0)))
    settings = Settings(library=scratch / "seed-library", kinds=("audio",))
    with Library.open(settings.library, settings=settings.audio) as lib:
        index_paths(lib, [music], settings=settings)
    (corpus / "seed").write_bytes((settings.library / "homage.sqlite").read_bytes())


TARGETS = {"media": (fuzz_media, media_seeds), "settings": (fuzz_settings, None),
           "library": (fuzz_library, library_seeds)}


def main() -> None:
    args = [a for a in sys.argv if a != "--strict"]
    if len(args) < 2 or args[1] not in TARGETS:
        sys.exit(f"usage: {args[0]} {{{','.join(TARGETS)}}} [--strict] [libFuzzer options]")
    target, seeder = TARGETS[args[1]]
    corpus = scratch / "corpus"
    corpus.mkdir()
    if seeder is not None:
        seeder(corpus)
    atheris.Setup([args[0], *args[2:], str(corpus)], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
