"""The web UI's pages as HTML strings: the library, a scan in progress, a scan's result.

Pure: data in, text out.  Every name and path is escaped (``homage.report.html.esc``); the
only scripts are the constants here and the report's, admitted by hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from homage.library.store import LibraryStats, WorkRecord
from homage.report.html import SCRIPT as REPORT_SCRIPT
from homage.report.html import document, esc, render_report
from homage.report.words import timecode
from homage.web.jobs import ScanJob

NAVIGATION = '<nav class="top"><a href="/">homage</a><a href="/#scan">scan a file</a></nav>'

PROGRESS_SCRIPT = """
(function () {
  var box = document.getElementById('job');
  var bar = box.querySelector('progress'), text = box.querySelector('.message');
  function poll() {
    fetch(box.dataset.api, {cache: 'no-store'}).then(function (r) { return r.json(); })
      .then(function (job) {
        bar.value = job.fraction;
        text.textContent = job.message;
        if (job.state === 'done' || job.state === 'failed') { window.location.reload(); }
        else { setTimeout(poll, 400); }
      }).catch(function () { setTimeout(poll, 1500); });
  }
  poll();
})();
"""

#: Every inline script a page of the web UI may hold (for the Content-Security-Policy).
SCRIPTS = (REPORT_SCRIPT, PROGRESS_SCRIPT)


def media_url(path: str) -> str:
    """The UI's URL for playing a file (served only if it is in the library or was scanned)."""
    return "/media?path=" + quote(path, safe="")


def library_page(library_dir: str, works: Sequence[WorkRecord], stats: LibraryStats | None,
                 jobs: Sequence[ScanJob], *, error: str | None = None) -> str:
    """The home page: what the library holds, the scan form, the scans of this session."""
    parts = [NAVIGATION, "<header><h1>Library</h1>",
             f'<p class="path">{esc(library_dir)}</p></header><main>']
    if error:
        parts.append(f'<p class="error">{esc(error)}</p>')
    if stats is not None:
        hours = stats.total_duration / 3600
        parts.append(
            f'<p class="meta" id="stats">{stats.works} works · {hours:.2f} h · '
            f"{stats.fingerprints:,} audio fingerprints · {stats.frames:,} video frames</p>")
    parts.append(_scan_form())
    if jobs:
        parts.append(_jobs_table(jobs))
    parts.append(_works_table(works) if works else "<p>The library holds no works yet: run "
                 "<code>homage index PATH</code>.</p>")
    parts.append("</main>")
    return document("homage — library", "\n".join(parts), scripts=())


def _scan_form() -> str:
    return (
        '<section id="scan"><h2>Scan a file</h2>'
        '<form class="scan" method="post" action="/scan">'
        '<input type="text" name="path" id="scan-path" required '
        'placeholder="/path/to/a/video-or-song (or a folder)" aria-label="path to scan">'
        '<button class="primary" type="submit" id="scan-start">Scan</button></form>'
        '<p class="hint">A file or folder on this machine; it is matched against the '
        "library, not added to it.</p></section>"
    )


def _jobs_table(jobs: Sequence[ScanJob]) -> str:
    rows = "".join(
        f'<tr><td><a href="/scans/{job.id}">scan {job.id}</a></td><td>{esc(job.path)}</td>'
        f"<td>{esc(job.state)}</td><td>{esc(job.message)}</td></tr>" for job in jobs)
    return ('<section id="scans"><h2>Scans</h2><div class="scroll"><table>'
            "<thead><tr><th>scan</th><th>path</th><th>state</th><th>result</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div></section>")


def _works_table(works: Sequence[WorkRecord]) -> str:
    rows = []
    for w in works:
        indexed = ", ".join(part for part in (
            f"{w.fingerprints:,} audio fingerprints" if w.fingerprints else "",
            f"{w.frames:,} video frames" if w.frames else "") if part) or "nothing"
        codecs = " / ".join(c for c in (w.container, w.video_codec, w.audio_codec) if c)
        rows.append(
            f'<tr><td class="work"><a href="{esc(media_url(w.path))}" title="play">'
            f"{esc(w.path)}</a></td><td data-value=\"{w.duration:.3f}\">"
            f"{timecode(w.duration)}</td><td>{esc(codecs)}</td><td>{esc(indexed)}</td></tr>")
    return ('<section id="works"><h2>Works</h2><div class="scroll">'
            '<table id="works-table"><thead><tr><th>path</th><th>duration</th>'
            "<th>format</th><th>indexed</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div></section>")


def job_page(job: ScanJob) -> str:
    """A scan's page: its progress while it runs, its report once done, its error if failed."""
    if job.state == "done":
        return render_report(job.results, media_url=media_url, navigation=NAVIGATION,
                             title=f"homage — scan of {job.path}")
    if job.state == "failed":
        failures = "".join(f"<li>{esc(f)}</li>" for f in job.failures)
        body = (f"{NAVIGATION}<header><h1>Scan failed</h1></header><main>"
                f'<p class="error" id="job-error">{esc(job.message)}</p>'
                f"{'<ul>' + failures + '</ul>' if failures else ''}"
                '<p><a href="/">back to the library</a></p></main>')
        return document("homage — scan failed", body, scripts=())
    body = (
        f"{NAVIGATION}<header><h1>Scanning</h1>"
        f'<p class="path">{esc(job.path)}</p></header><main>'
        f'<div id="job" data-api="/api/scans/{job.id}">'
        f'<progress max="1" value="{job.fraction:.3f}"></progress>'
        f'<p class="message">{esc(job.message)}</p></div>'
        '<noscript><p>This page updates itself with JavaScript; reload it to see '
        "progress.</p></noscript></main>"
        f"<script>{PROGRESS_SCRIPT}</script>"
    )
    return document("homage — scanning", body, scripts=[PROGRESS_SCRIPT])


def error_page(status: int, message: str) -> str:
    body = (f"{NAVIGATION}<header><h1>{status}</h1></header><main>"
            f'<p class="error">{esc(message)}</p><p><a href="/">back to the library</a></p>'
            "</main>")
    return document(f"homage — {status}", body, scripts=())
