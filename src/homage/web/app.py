"""The local web UI's HTTP server: the standard library's threading server, no framework.

It binds to 127.0.0.1 unless told otherwise, refuses requests whose ``Host`` is not the
address it serves (a page on another site cannot reach it through DNS rebinding), refuses
cross-site form posts, and serves media files only when they are in the library or were
scanned in this session.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import mimetypes
import os
import re
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from homage.config import Settings
from homage.errors import HomageError
from homage.library import Library, redacted
from homage.report.html import content_security_policy
from homage.web import pages
from homage.web.jobs import Jobs

logger = logging.getLogger(__name__)

#: Largest form body accepted (a path to scan).
_MAX_FORM_BYTES = 64 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_CHUNK = 256 * 1024


class HomageServer(ThreadingHTTPServer):
    """The web UI over one library; ``jobs`` holds the scans started from it."""

    daemon_threads = True

    def __init__(self, settings: Settings, address: tuple[str, int]) -> None:
        self.settings = settings
        self.jobs = Jobs(settings, self.open_library)
        super().__init__(address, Handler)

    def open_library(self) -> Library:
        s = self.settings
        return Library.open(s.library, settings=s.audio, visual=s.visual, create=False)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/"

    def allowed_hosts(self) -> set[str] | None:
        """``Host`` headers accepted; None (any) when serving a non-loopback address."""
        host, port = self.server_address[:2]
        if not _is_loopback(str(host)):
            return None
        names = ("127.0.0.1", "localhost", "[::1]", str(host))
        return {f"{name}:{port}" for name in names} | (set(names) if port == 80 else set())

    def may_serve(self, path: str) -> bool:
        """Whether ``path`` is a file of the library or one scanned in this session."""
        if path in self.jobs.scanned_files():
            return True
        try:
            with self.open_library() as library:
                return library.work_by_path(path) is not None
        except HomageError:
            return False

    def server_close(self) -> None:
        self.jobs.close()
        super().server_close()


def make_server(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000
                ) -> HomageServer:
    """A server ready for ``serve_forever()`` (port 0 picks a free one).

    Raises
    ------
    HomageError
        The address cannot be bound (in use, or not this machine's).
    """
    try:
        return HomageServer(settings, (host, port))
    except OSError as exc:
        raise HomageError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000,
          log: Callable[[str], None] = lambda line: None) -> None:
    """Run the web UI until interrupted."""
    server = make_server(settings, host=host, port=port)
    if not _is_loopback(host):
        log(f"warning: serving on {host}: anyone who can reach it can browse the library "
            "and play its files")
    log(f"homage web UI at {server.url} (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log("stopped")
    finally:
        server.server_close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Handler(BaseHTTPRequestHandler):
    server: HomageServer
    server_version = "homage"
    sys_version = ""

    # ------------------------------------------------------------------ routing
    _head_only = False

    def do_GET(self) -> None:
        self._head_only = False
        self._get()

    def do_HEAD(self) -> None:
        self._head_only = True
        self._get()

    def _get(self) -> None:
        if not self._host_ok():
            return
        url = urlsplit(self.path)
        route = url.path
        if route == "/":
            self._library()
        elif route == "/media":
            self._media(parse_qs(url.query).get("path", [""])[0])
        elif (m := re.fullmatch(r"/scans/(\d+)", route)):
            self._job_page(int(m.group(1)))
        elif (m := re.fullmatch(r"/api/scans/(\d+)", route)):
            self._job_json(int(m.group(1)))
        elif route == "/favicon.ico":
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
        else:
            self._error(HTTPStatus.NOT_FOUND, "no such page")

    def do_POST(self) -> None:
        self._head_only = False
        if not self._host_ok() or not self._same_origin():
            return
        if urlsplit(self.path).path != "/scan":
            self._error(HTTPStatus.NOT_FOUND, "no such page")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_FORM_BYTES:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "form too large")
            return
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        path = form.get("path", [""])[0].strip()
        if not path:
            self._error(HTTPStatus.BAD_REQUEST, "give the path of a file or folder to scan")
            return
        job = self.server.jobs.start(path)
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", f"/scans/{job.id}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    # ------------------------------------------------------------------- pages
    def _library(self) -> None:
        settings = self.server.settings
        works, stats, error = [], None, None
        try:
            with self.server.open_library() as library:
                works, stats = library.works(), library.stats()
        except HomageError as exc:
            error = str(exc)
        self._html(pages.library_page(redacted(settings.library), works, stats,
                                      self.server.jobs.all(), error=error))

    def _job_page(self, job_id: int) -> None:
        job = self.server.jobs.get(job_id)
        if job is None:
            self._error(HTTPStatus.NOT_FOUND, "no such scan")
            return
        self._html(pages.job_page(job))

    def _job_json(self, job_id: int) -> None:
        job = self.server.jobs.get(job_id)
        if job is None:
            self._error(HTTPStatus.NOT_FOUND, "no such scan")
            return
        body = json.dumps(job.to_json()).encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self._common_headers(len(body))
        self._write(body)

    def _media(self, path: str) -> None:
        if not path or not os.path.isabs(path) or not self.server.may_serve(path) \
                or not Path(path).is_file():
            self._error(HTTPStatus.NOT_FOUND, "not a file of the library or of a scan")
            return
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                first, last = self._range(size)
                if first is None:
                    return
                partial = self.headers.get("Range") is not None
                self.send_response(HTTPStatus.PARTIAL_CONTENT if partial else HTTPStatus.OK)
                kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
                self.send_header("Content-Type", kind)
                self.send_header("Accept-Ranges", "bytes")
                if partial:
                    self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
                self._common_headers(last - first + 1)
                if self._head_only:
                    return
                handle.seek(first)
                with contextlib.suppress(ConnectionError):
                    for chunk in _read(handle, last - first + 1):
                        self.wfile.write(chunk)
        except OSError as exc:
            self._error(HTTPStatus.NOT_FOUND, f"cannot read the file ({exc.strerror})")

    def _range(self, size: int) -> tuple[int | None, int]:
        """The byte range asked for (the whole file without a Range header); answers 416 and
        returns None for one that cannot be served."""
        header = self.headers.get("Range")
        if header is None:
            return 0, size - 1
        m = _RANGE.match(header.strip())
        if m is None or (not m.group(1) and not m.group(2)):
            self._unsatisfiable(size)
            return None, 0
        if not m.group(1):  # the last N bytes
            first, last = max(0, size - int(m.group(2))), size - 1
        else:
            first = int(m.group(1))
            last = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        if first >= size or first > last:
            self._unsatisfiable(size)
            return None, 0
        return first, last

    def _unsatisfiable(self, size: int) -> None:
        self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
        self.send_header("Content-Range", f"bytes */{size}")
        self._common_headers(0)

    # ----------------------------------------------------------------- helpers
    def _host_ok(self) -> bool:
        allowed = self.server.allowed_hosts()
        if allowed is None or self.headers.get("Host", "") in allowed:
            return True
        self._error(HTTPStatus.MISDIRECTED_REQUEST, "this server answers only to "
                    f"{self.server.url}")
        return False

    def _same_origin(self) -> bool:
        origin = self.headers.get("Origin")
        if origin is None or origin == f"http://{self.headers.get('Host', '')}":
            return True
        self._error(HTTPStatus.FORBIDDEN, "cross-site form posts are refused")
        return False

    def _html(self, text: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy",
                         content_security_policy(pages.SCRIPTS, media="'self'")
                         + "; frame-ancestors 'none'")
        self._common_headers(len(body))
        self._write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._html(pages.error_page(int(status), message), status)

    def _common_headers(self, length: int) -> None:
        self.send_header("Content-Length", str(length))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "same-origin")
        self.end_headers()

    def _write(self, body: bytes) -> None:
        if not self._head_only:
            with contextlib.suppress(ConnectionError):
                self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def _read(handle, remaining: int) -> Iterator[bytes]:
    while remaining > 0:
        chunk = handle.read(min(_CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


__all__ = ["Handler", "HomageServer", "make_server", "serve"]
