"""Transforms and times said in words, the way a person writing a comparison would say them."""

from __future__ import annotations

from homage.types import MatchKind, Transform

_NEUTRAL_RATIO = 0.01
_NEUTRAL_SEMITONES = 0.25


def describe_transform(t: Transform, kind: MatchKind = "audio_sample") -> str:
    """``"sped up ×1.06 (+1.0 semitones)"``, ``"pitched −3.0 semitones"``, ``"unchanged"``…;
    for footage, ``"sped up ×2.00, mirrored, picture at 0–100% × 12–88%"`` or ``"cropped:
    10–90% × 0–100% of the reference"``; for a homage, ``"re-staged (composition, motion),
    mirrored"``."""
    parts: list[str] = []
    if kind != "audio_sample":
        if abs(t.speed - 1.0) > _NEUTRAL_RATIO:
            parts.append(f"{'sped up' if t.speed > 1 else 'slowed down'} ×{t.speed:.2f}")
    elif abs(t.speed - 1.0) > _NEUTRAL_RATIO:
        verb = "sped up" if t.speed > 1 else "slowed down"
        parts.append(f"{verb} ×{t.speed:.2f} ({t.pitch_semitones:+.1f} semitones)")
    else:
        if abs(t.tempo - 1.0) > _NEUTRAL_RATIO:
            verb = "faster" if t.tempo > 1 else "slower"
            parts.append(f"tempo ×{t.tempo:.2f} ({verb})")
        if abs(t.pitch_semitones) > _NEUTRAL_SEMITONES:
            parts.append(f"pitched {t.pitch_semitones:+.1f} semitones")
    if t.aspects is not None:
        parts.insert(0, f"re-staged ({', '.join(t.aspects)})" if t.aspects else "re-staged")
    if t.mirrored:
        parts.append("mirrored")
    if t.region is not None:
        left, top, right, bottom = (round(100 * v) for v in t.region)
        parts.append(f"picture at {left}–{right}% × {top}–{bottom}%")
    if t.reference_region is not None:
        left, top, right, bottom = (round(100 * v) for v in t.reference_region)
        framed = "framed closer" if kind == "visual_homage" else "cropped"
        parts.append(f"{framed}: {left}–{right}% × {top}–{bottom}% of the reference")
    return ", ".join(parts) if parts else "unchanged"


def timecode(seconds: float) -> str:
    """``83.25`` → ``"1:23.2"``; hours appear only when needed."""
    seconds = round(max(0.0, seconds), 1)  # round first: 59.97 is "1:00.0", not "0:60.0"
    minutes, secs = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:04.1f}"
    return f"{minutes}:{secs:04.1f}"


def time_range(start: float, end: float) -> str:
    """``(83.25, 90.0)`` → ``"1:23.2–1:30.0"``."""
    return f"{timecode(start)}–{timecode(end)}"


def printable(text: str) -> str:
    """Control characters escaped (a newline in a file name shows as ``\\n``), so that one
    item is always one line of output; other text, unicode included, is left alone."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)
