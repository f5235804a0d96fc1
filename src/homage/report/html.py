"""The self-contained HTML report: one file, pictures embedded, no network, readable on a phone
and printable.

Every piece of text that comes from data (file names, paths) goes through ``html.escape``;
the only script is the constant ``SCRIPT``, which a Content-Security-Policy admits by hash, so
even a name that slipped past escaping could not run code.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from homage import __version__
from homage.report.evidence import FramePair, MatchEvidence, MediaSide, Picture, gather_evidence
from homage.report.pictures import KIND_COLOURS
from homage.report.tabular import _atomic_write
from homage.report.words import describe_transform, printable, time_range, timecode
from homage.types import Match, QueryResult

#: ``path → URL`` for playback, or None where the file cannot be played.
MediaUrl = Callable[[str], "str | None"]

KIND_NAMES = {"visual_copy": "visual copy", "visual_homage": "visual homage",
              "audio_sample": "audio sample"}
KIND_HELP = {
    "visual_copy": "the same footage reused: re-encoded, cropped, mirrored, recoloured, "
                   "sped up or slowed down.",
    "visual_homage": "a re-staged shot: new footage composed after the reference's.",
    "audio_sample": "a recording reused: possibly sped up, pitch-shifted, time-stretched, "
                    "looped or mixed under other sounds.",
}


def esc(text: object) -> str:
    """Text for HTML content or a quoted attribute, control characters made visible."""
    return html.escape(printable(str(text)), quote=True)


def file_url(path: str) -> str | None:
    """A ``file://`` URL for playback from a report opened on this machine."""
    target = Path(path)
    return target.resolve().as_uri() if target.is_file() else None


def write_report(results: Sequence[QueryResult], path: str | Path, *,
                 title: str = "homage report",
                 progress: Callable[[int, int], None] | None = None) -> None:
    """Gather the evidence of every match and write the report to ``path`` (atomically)."""
    total = sum(len(r.matches) for r in results)
    done = 0

    def advance(_: int, __: int) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    items = [(r, gather_evidence(r, progress=advance)) for r in results]
    _atomic_write(path, render_report(items, title=title))


def render_report(
    items: Sequence[tuple[QueryResult, Sequence[MatchEvidence]]], *,
    media_url: MediaUrl = file_url, title: str = "homage report", navigation: str = "",
    generated: datetime.datetime | None = None,
) -> str:
    """The report as one HTML document.

    Parameters
    ----------
    items:
        Each query's result and the evidence of its matches (same order as its matches).
    media_url:
        Where the players find each file (``file://`` for a report on disk, the web UI's
        media endpoint when served).
    navigation:
        Trusted HTML put above the report (the web UI's links); never user data.
    """
    generated = generated or datetime.datetime.now().astimezone()
    n_matches = sum(len(r.matches) for r, _ in items)
    body = [
        navigation,
        "<header>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">{len(items)} quer{"ies" if len(items) != 1 else "y"}, '
        f"{n_matches} match{'es' if n_matches != 1 else ''} · "
        f"generated {esc(generated.strftime('%Y-%m-%d %H:%M'))} by homage {esc(__version__)}"
        "</p>",
        "</header>",
        '<main>',
        _summary(items),
        _legend(),
    ]
    for qi, (result, evidence) in enumerate(items):
        body.append(_query_section(qi, result, evidence, media_url))
    body += ["</main>", _VIEWER, f"<script>{SCRIPT}</script>"]
    return document(title, "\n".join(body), scripts=[SCRIPT])


def content_security_policy(scripts: Sequence[str], *, media: str = "'self' file:") -> str:
    """A policy admitting only ``scripts`` (by hash), inline styles, embedded images, media
    from ``media`` and nothing from the network."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in scripts)
    return (f"default-src 'none'; img-src data:; media-src {media}; style-src 'unsafe-inline'; "
            f"script-src {hashes or chr(39) + 'none' + chr(39)}; connect-src 'self'; "
            "form-action 'self'; base-uri 'none'")


def document(title: str, body: str, *, scripts: Sequence[str]) -> str:
    """A whole page: ``body`` is trusted HTML, ``scripts`` the inline scripts it holds."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" '
        f'content="{html.escape(content_security_policy(scripts))}">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )


def _name(path: str) -> str:
    return Path(path).name or path


def _anchor(qi: int, mi: int) -> str:
    return f"m{qi}-{mi}"


def _legend() -> str:
    kinds = "".join(
        f'<li><span class="swatch k-{kind}"></span><b>{KIND_NAMES[kind]}</b>: '
        f"{esc(KIND_HELP[kind])}</li>" for kind in KIND_COLOURS)
    return (
        '<section class="legend" id="legend"><h2>Legend</h2>'
        f'<ul class="kinds">{kinds}</ul>'
        "<p><b>Score</b> (0–1): how sure homage is that the match is real; the same evidence "
        "gets the same score in every run and library. Matches below the threshold (0.5 by "
        "default) are not reported. For an <b>audio sample</b> it is the significance of the "
        "alignment: with <i>E</i> the expected number of chance matches this strong in the "
        "library, score = s / (s + 6) where s = −log<sub>10</sub> <i>E</i> (0.5 means one in "
        "a million, 0.75 one in 10<sup>18</sup>). For <b>footage</b> it is a calibrated "
        "probability from how alike the aligned frames are, how many there are and how "
        "steadily the alignment holds across the range.</p>"
        "<p><b>Transform</b>: how the reference was changed on its way into the query: "
        "speed (reference seconds per query second; for audio, a resampling that changes "
        "pitch and tempo together), tempo, pitch in semitones, mirrored, and the region of the "
        "query frame the reference's picture fills (drawn as a yellow box); for a homage that "
        "frames its model closer in, the part of the reference it shows (a yellow box on the "
        "reference frame).</p>"
        "</section>"
    )


def _summary(items: Sequence[tuple[QueryResult, Sequence[MatchEvidence]]]) -> str:
    rows = []
    for qi, (result, _) in enumerate(items):
        for mi, m in enumerate(result.matches):
            rows.append(
                "<tr>"
                f'<td class="nowrap" data-value="{qi * 100000 + mi}">'
                f'<a href="#{_anchor(qi, mi)}">'
                f"{qi + 1}.{mi + 1}</a></td>"
                f'<td title="{esc(result.query)}">{esc(_name(result.query))}</td>'
                f'<td><span class="swatch k-{m.kind}"></span>{KIND_NAMES[m.kind]}</td>'
                f'<td title="{esc(m.reference)}">{esc(_name(m.reference))}</td>'
                f'<td class="nowrap" data-value="{m.query_start:.3f}">'
                f"{time_range(m.query_start, m.query_end)}</td>"
                f'<td class="nowrap" data-value="{m.reference_start:.3f}">'
                f"{time_range(m.reference_start, m.reference_end)}</td>"
                f'<td data-value="{m.score:.4f}">{m.score:.2f}</td>'
                f"<td>{esc(describe_transform(m.transform, m.kind))}</td>"
                "</tr>")
    if not rows:
        return '<section id="summary"><h2>Summary</h2><p>No matches found.</p></section>'
    heads = [("#", "number"), ("query", "text"), ("kind", "text"), ("reference", "text"),
             ("query time", "number"), ("reference time", "number"), ("score", "number"),
             ("transform", "text")]
    header = "".join(
        f'<th scope="col" data-type="{kind}"><button type="button">{esc(label)}</button></th>'
        for label, kind in heads)
    return (
        '<section id="summary"><h2>Summary</h2>'
        '<p class="hint">Click a column heading to sort.</p>'
        '<div class="scroll"><table class="sortable" id="matches">'
        f"<thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        "</section>"
    )


def _lanes(matches: Sequence[Match]) -> list[int]:
    """A lane for each match so that overlapping ranges sit on separate rows."""
    ends: list[float] = []
    lanes = []
    for m in matches:
        for lane, end in enumerate(ends):
            if m.query_start >= end:
                ends[lane] = m.query_end
                lanes.append(lane)
                break
        else:
            ends.append(m.query_end)
            lanes.append(len(ends) - 1)
    return lanes


def _timeline(qi: int, result: QueryResult) -> str:
    duration = max(result.duration, max((m.query_end for m in result.matches), default=0.0),
                   1e-6)
    lanes = _lanes(result.matches)
    segments = []
    for mi, (m, lane) in enumerate(zip(result.matches, lanes, strict=True)):
        left = 100.0 * max(0.0, m.query_start) / duration
        width = max(0.6, 100.0 * (m.query_end - m.query_start) / duration)
        label = (f"{KIND_NAMES[m.kind]} {time_range(m.query_start, m.query_end)} from "
                 f"{_name(m.reference)} (score {m.score:.2f})")
        segments.append(
            f'<a class="seg k-{m.kind}" href="#{_anchor(qi, mi)}" title="{esc(label)}" '
            f'aria-label="{esc(label)}" '
            f'style="left:{left:.3f}%;width:{min(width, 100.0 - left):.3f}%;top:{lane * 1.6}em">'
            f"{mi + 1}</a>")
    ticks = "".join(
        f'<span{" class=end" if t > 0.9 * duration else ""} '
        f'style="left:{100.0 * t / duration:.2f}%">{timecode(t)}</span>'
        for t in _ticks(duration))
    n_lanes = max(lanes, default=0) + 1
    return (f'<div class="timeline" style="height:{n_lanes * 1.6 + 0.2:.1f}em">'
            f"{''.join(segments)}</div><div class=\"axis\">{ticks}</div>")


def _ticks(duration: float, most: int = 6) -> list[float]:
    """Round times for a timeline's axis: 0 and every step (1, 2, 5, 10, 15, 30 s, 1, 2, 5,
    10, 15, 30 min, 1 h…) with at most ``most`` marks."""
    steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 18000]
    step = next((s for s in steps if duration / s <= most - 1), steps[-1])
    marks = [i * step for i in range(int(duration // step) + 1)]
    return marks


def _query_section(qi: int, result: QueryResult, evidence: Sequence[MatchEvidence],
                   media_url: MediaUrl) -> str:
    n = len(result.matches)
    parts = [
        f'<section class="query" id="q{qi}">',
        f"<h2>{esc(_name(result.query))}</h2>",
        f'<p class="path">{esc(result.query)} · {timecode(result.duration)} · '
        f"{n} match{'es' if n != 1 else ''}</p>",
        _timeline(qi, result),
    ]
    if not n:
        parts.append("<p>Nothing borrowed was found in this work.</p>")
    for mi, (m, ev) in enumerate(zip(result.matches, evidence, strict=True)):
        parts.append(_match_article(qi, mi, m, ev, media_url))
    parts.append("</section>")
    return "\n".join(parts)


def _also_at(m: Match) -> str:
    """The other places the reference holds the same material, when it repeats itself."""
    if not m.also_at:
        return ""
    return f"<dt>also at</dt><dd>{', '.join(time_range(*r) for r in m.also_at)}</dd>"


def _match_article(qi: int, mi: int, m: Match, ev: MatchEvidence, media_url: MediaUrl) -> str:
    words = describe_transform(m.transform, m.kind)
    parts = [
        f'<article class="match k-{m.kind}" id="{_anchor(qi, mi)}">',
        f'<h3><span class="badge k-{m.kind}">{mi + 1} · {KIND_NAMES[m.kind]}</span> '
        f"from {esc(_name(m.reference))} <span class=\"score\">score {m.score:.2f}</span></h3>",
        "<dl>",
        f"<dt>query</dt><dd>{time_range(m.query_start, m.query_end)}</dd>",
        f"<dt>reference</dt><dd>{time_range(m.reference_start, m.reference_end)} of "
        f'<span class="path">{esc(m.reference)}</span></dd>',
        _also_at(m),
        f'<dt>transform</dt><dd class="transform">{esc(words)}</dd>',
        "</dl>",
    ]
    parts += [f'<p class="note">{esc(note)} — picture unavailable.</p>' for note in ev.notes]
    if m.kind == "audio_sample":
        parts.append(_spectrogram_figure(m, ev))
    else:
        parts.append(_frame_pairs(qi, mi, m, ev))
        parts.append(_shot_labels(ev))
    parts.append(_players(m, ev, media_url))
    parts.append("</article>")
    return "\n".join(p for p in parts if p)


def _img(pic: Picture | None, alt: str, cls: str = "") -> str:
    if pic is None:
        return f'<div class="missing {cls}">{esc(alt)}: unavailable</div>'
    return (f'<img class="{cls}" src="{pic.uri}" width="{pic.width}" height="{pic.height}" '
            f'alt="{esc(alt)}" loading="lazy">')


def _frame_pairs(qi: int, mi: int, m: Match, ev: MatchEvidence) -> str:
    if not ev.frames:
        return ""
    notes = []
    if ev.reference_flipped:
        notes.append("reference frames shown mirrored, as the query uses them")
    if m.transform.region is not None:
        notes.append("yellow box: where the reference's picture sits in the query frame")
    if m.transform.reference_region is not None:
        notes.append("yellow box: the part of the reference the query frame shows")
    figures = "".join(_pair(qi, mi, k, pair, ev.reference_flipped)
                      for k, pair in enumerate(ev.frames))
    caption = (f'<p class="hint">Query left, reference right. {esc("; ".join(notes))}'
               f"{'.' if notes else ''} Click a pair to enlarge.</p>")
    return f'<div class="pairs">{figures}</div>{caption}'


def _shot_labels(ev: MatchEvidence) -> str:
    """What the classifier sees in each shot: words for why two shots in different media
    were paired (or a hint that they show different things)."""
    sides = [f"{name} shows {esc(', '.join(labels))}" for name, labels in
             (("query", ev.query_labels), ("reference", ev.reference_labels)) if labels]
    return f'<p class="labels">{"; ".join(sides)}.</p>' if sides else ""


def _pair(qi: int, mi: int, k: int, pair: FramePair, flipped: bool) -> str:
    ref_label = f"reference at {timecode(pair.reference_time)}" + (" (mirrored)" if flipped
                                                                    else "")
    return (
        f'<a class="pair" id="p{qi}-{mi}-{k}" href="#p{qi}-{mi}-{k}">'
        f'<figure><div class="two">'
        f"{_img(pair.query, f'query at {timecode(pair.query_time)}', 'q')}"
        f"{_img(pair.reference, ref_label, 'r')}</div>"
        f"<figcaption><span>{timecode(pair.query_time)}</span>"
        f"<span>{timecode(pair.reference_time)}</span></figcaption></figure></a>"
    )


def _spectrogram_figure(m: Match, ev: MatchEvidence) -> str:
    s = ev.spectrograms
    if s is None:
        return ""
    t = m.transform
    warp = []
    if abs(t.tempo - 1.0) > 0.005:
        warp.append(f"time-scaled ×{1.0 / t.tempo:.3f}")
    if abs(t.pitch_semitones) > 0.05:
        warp.append(f"shifted {t.pitch_semitones:+.1f} semitones")
    how = (" — warped (" + ", ".join(warp) + ") to line up with the query") if warp else ""
    shown = "" if s.query_end >= m.query_end - 1e-3 else " (the first part of the match)"
    return (
        '<figure class="spectra">'
        f"<figcaption>query {time_range(s.query_start, s.query_end)}{shown}</figcaption>"
        f"{_img(s.query, 'query spectrogram', 'spec')}"
        f"<figcaption>reference {time_range(s.reference_start, s.reference_end)}{esc(how)}"
        "</figcaption>"
        f"{_img(s.reference, 'reference spectrogram', 'spec')}"
        '<p class="hint">Log-frequency spectrograms (65 Hz–5 kHz, bottom to top): the same '
        "bright lines in both show the same notes at the same times.</p></figure>"
    )


def _players(m: Match, ev: MatchEvidence, media_url: MediaUrl) -> str:
    players = []
    for label, side, start, end in (("query", ev.query, m.query_start, m.query_end),
                                    ("reference", ev.reference, m.reference_start,
                                     m.reference_end)):
        player = _player(side, start, end, media_url)
        if player:
            players.append(f"<figure><figcaption>{label} {time_range(start, end)}</figcaption>"
                           f"{player}</figure>")
    if not players:
        return ""
    both = ""
    if len(players) == 2:
        t = m.transform
        rate = t.speed if m.kind != "audio_sample" else t.tempo
        resampled = m.kind == "audio_sample" and abs(12 * math.log2(max(t.tempo, 1e-3))
                                                     - t.pitch_semitones) < 0.5
        both = (f'<button type="button" class="both" data-rate="{min(max(rate, 0.25), 4.0):.4f}" '
                f'data-pitch="{"follow" if resampled else "keep"}">'
                "▶ play both in step</button>")
    return f'<div class="play">{"".join(players)}</div>{both}'


def _player(side: MediaSide, start: float, end: float, media_url: MediaUrl) -> str:
    if not side.exists or not (side.has_video or side.has_audio):
        return ""
    url = media_url(side.path)
    if url is None:
        return ""
    tag = "video" if side.has_video else "audio"
    src = f"{url}#t={max(0.0, start):.3f},{end:.3f}"
    return f'<{tag} controls preload="metadata" src="{esc(src)}"></{tag}>'


_VIEWER = (
    '<dialog id="viewer" aria-label="frame pair"><form method="dialog">'
    '<button class="close" aria-label="close">×</button></form>'
    '<div class="two big"></div><p class="caption"></p></dialog>'
)

SCRIPT = """
(function () {
  document.querySelectorAll('table.sortable th[data-type] button').forEach(function (button) {
    button.addEventListener('click', function () {
      var th = button.parentNode, table = th.closest('table'), body = table.tBodies[0];
      var index = Array.prototype.indexOf.call(th.parentNode.children, th);
      var numeric = th.dataset.type === 'number';
      var ascending = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
      var key = function (row) {
        var cell = row.children[index];
        var v = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent;
        return numeric ? parseFloat(v) : v.toLowerCase();
      };
      Array.prototype.slice.call(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
  document.querySelectorAll('button.both').forEach(function (button) {
    button.addEventListener('click', function () {
      var players = button.previousElementSibling.querySelectorAll('video, audio');
      players.forEach(function (player, i) {
        var start = /#t=([0-9.]+)/.exec(player.getAttribute('src'));
        if (start) { player.currentTime = parseFloat(start[1]); }
        if (i === 1) {
          player.playbackRate = parseFloat(button.dataset.rate);
          player.preservesPitch = button.dataset.pitch === 'keep';
        }
        player.play();
      });
    });
  });
  var viewer = document.getElementById('viewer');
  document.querySelectorAll('a.pair').forEach(function (pair) {
    pair.addEventListener('click', function (event) {
      if (!viewer || !viewer.showModal) { return; }
      event.preventDefault();
      var two = viewer.querySelector('.two');
      two.replaceChildren();
      pair.querySelectorAll('.two > *').forEach(function (el) {
        two.appendChild(el.cloneNode(true));
      });
      var spans = pair.querySelectorAll('figcaption span');
      viewer.querySelector('.caption').textContent = 'query ' + spans[0].textContent +
        '  \\u2194  reference ' + spans[1].textContent;
      viewer.showModal();
    });
  });
  if (viewer) {
    viewer.addEventListener('click', function (event) {
      if (event.target === viewer) { viewer.close(); }
    });
  }
})();
"""

_KIND_CSS = "".join(f".k-{kind}{{--kind:{colour}}}" for kind, colour in KIND_COLOURS.items())

STYLE = """
:root{color-scheme:light;--ink:#1d2329;--muted:#5f6b76;--line:#d5dbe1;--bg:#fff;
--panel:#f5f7f9}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--ink);background:var(--bg)}
header,main,nav{max-width:1100px;margin:0 auto;padding:0 16px}
header{padding-top:16px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.3em;margin:1.2em 0 .3em}
h3{font-size:1.05em;margin:.2em 0 .4em}
.meta,.path,.hint{color:var(--muted);font-size:.9em;overflow-wrap:anywhere}
.swatch{display:inline-block;width:.9em;height:.9em;border-radius:2px;margin-right:.35em;
vertical-align:-.1em;background:var(--kind)}
.legend{background:var(--panel);border:1px solid var(--line);border-radius:8px;
padding:4px 16px;margin-top:12px}
.legend ul{padding-left:0;list-style:none}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.92em}table.sortable{min-width:640px}
th,td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere}td.nowrap{white-space:nowrap}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;
color:inherit}
th button::after{content:" \\2195";color:var(--muted)}
th[aria-sort=ascending] button::after{content:" \\2191"}
th[aria-sort=descending] button::after{content:" \\2193"}
.timeline{position:relative;background:var(--panel);border:1px solid var(--line);
border-radius:4px;margin-top:8px}
.seg{position:absolute;height:1.4em;margin-top:.1em;background:var(--kind);color:#fff;
border-radius:3px;font-size:.8em;line-height:1.4em;text-align:center;overflow:hidden;
text-decoration:none;min-width:4px}
.seg:hover,.seg:focus{outline:2px solid var(--ink)}
.axis{position:relative;height:1.4em;font-size:.75em;color:var(--muted)}
.axis span{position:absolute;transform:translateX(-50%)}
.axis span:first-child{transform:none}.axis span.end{transform:translateX(-100%)}
article.match{border:1px solid var(--line);border-left:6px solid var(--kind);
border-radius:8px;padding:8px 14px;margin:14px 0;break-inside:avoid}
article.match:target{box-shadow:0 0 0 3px var(--kind)}
.badge{background:var(--kind);color:#fff;border-radius:4px;padding:1px 7px;font-size:.85em}
.score{color:var(--muted);font-weight:400;font-size:.9em;margin-left:.4em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:.3em 0}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
.note{color:#8a4b00;background:#fff4e0;border-radius:4px;padding:4px 8px}
.pairs{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:10px}
a.pair{color:inherit;text-decoration:none;display:block;border-radius:6px}
a.pair:hover,a.pair:focus{outline:2px solid var(--kind)}
figure{margin:0}
.two{display:grid;grid-template-columns:1fr 1fr;gap:3px;background:#000;border-radius:4px;
overflow:hidden}
.two img,.two .missing{width:100%;height:auto;display:block;aspect-ratio:16/9;
object-fit:contain;background:#000}
.missing{color:#ccc;font-size:.8em;display:flex;align-items:center;justify-content:center;
padding:4px;text-align:center}
figcaption{display:flex;justify-content:space-around;font-size:.85em;color:var(--muted);
font-variant-numeric:tabular-nums}
.spectra figcaption{justify-content:flex-start;margin-top:6px}
img.spec,.spectra .missing{width:100%;height:auto;display:block;border-radius:3px;
image-rendering:auto;min-height:60px}
.play{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:10px;
margin-top:10px}
.play figure{max-width:520px}.play video{width:100%;max-height:260px;background:#000}
.play audio{width:100%}
button.both{font:inherit;margin-top:6px;padding:4px 12px;border-radius:6px;
border:1px solid var(--line);background:var(--panel);cursor:pointer}
dialog{border:0;border-radius:8px;padding:10px;max-width:96vw;width:1100px}
dialog::backdrop{background:rgba(0,0,0,.7)}
dialog .caption{text-align:center;margin:.4em 0 0}
dialog .close{float:right;font-size:1.4em;border:0;background:none;cursor:pointer}
nav.top{display:flex;gap:16px;align-items:center;padding-top:10px;padding-bottom:6px;
border-bottom:1px solid var(--line)}
nav.top a{color:var(--ink);font-weight:600}
form.scan{display:flex;gap:8px;flex-wrap:wrap;margin:.5em 0}
form.scan input[type=text]{flex:1 1 320px;font:inherit;padding:6px 8px;border:1px solid var(--line);
border-radius:6px}
button.primary{font:inherit;padding:6px 14px;border-radius:6px;border:0;background:#1f78b4;
color:#fff;cursor:pointer}
progress{width:100%;height:1.2em}
.error{color:#a11;background:#fdecec;border-radius:4px;padding:6px 10px}
@media (max-width:600px){body{font-size:14px}.two.big{grid-template-columns:1fr}
dl{grid-template-columns:1fr}dt{margin-top:4px}}
@media print{body{font-size:10pt}.play,button.both,dialog,.hint,nav{display:none}
.seg,.badge,.swatch,article.match,.two{-webkit-print-color-adjust:exact;
print-color-adjust:exact}a{color:inherit;text-decoration:none}
.pairs{grid-template-columns:repeat(3,1fr)}section.query{break-before:page}}
""" + _KIND_CSS
