"""The web UI's server over HTTP (no browser): pages, a scan from start to report, the media
endpoint (library and scanned files only, byte ranges), and its guards (Host, Origin,
escaping, loopback by default)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from click.testing import CliRunner

from homage.cli.main import cli
from homage.config import Settings
from homage.library import Library
from homage.pipeline import index_paths
from homage.web import HomageServer, make_server
from html_tree import parse
from synth_music import SR, arrange, make_score, render, write_audio

HOSTILE = '<script>alert(1)<script> <img src=x onerror="alert(2)">'


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A reference with a hostile name, a query that samples it, and a file that is neither
    in the library nor scanned."""
    root = tmp_path_factory.mktemp("web")
    (root / "refs").mkdir()
    song = render(make_score(11, 12.0))
    return {
        "ref": write_audio(root / "refs" / f"{HOSTILE}.wav", song),
        "query": write_audio(root / "query.wav", arrange(10.0, [(2.0, song[3 * SR:9 * SR])])),
        "private": write_audio(root / "private.wav", render(make_score(12, 2.0))),
    }


@pytest.fixture(scope="module")
def server(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[HomageServer]:
    settings = Settings(library=tmp_path_factory.mktemp("weblib") / "library",
                        kinds=("audio",))
    with Library.open(settings.library, settings=settings.audio) as library:
        assert index_paths(library, [media["ref"]], settings=settings).failed == []
    server = make_server(settings, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def request(server: HomageServer, method: str, path: str, *, body: str | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def scan(server: HomageServer, path: Path | str) -> dict:
    status, headers, _ = request(
        server, "POST", "/scan", body=urlencode({"path": str(path)}),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303
    job_id = headers["location"].rsplit("/", 1)[1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = json.loads(request(server, "GET", f"/api/scans/{job_id}")[2])
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.1)
    raise AssertionError("scan did not finish")


def test_binds_to_loopback_by_default(server: HomageServer) -> None:
    assert server.server_address[0] == "127.0.0.1"


def test_library_page_lists_the_works_escaped(server: HomageServer, media) -> None:
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "script-src 'sha256-" in headers["content-security-policy"]
    text = body.decode()
    assert "<script>alert" not in text and "<img src=x" not in text
    tree = parse(text)
    assert not tree.find_all("script")
    [cell] = [td for td in tree.find_all("td", cls="work")]
    assert cell.text == str(media["ref"])
    assert tree.by_id("scan-path") is not None and tree.by_id("stats") is not None


def test_a_scan_runs_to_a_report_with_playback(server: HomageServer, media) -> None:
    state = scan(server, media["query"])
    assert state["state"] == "done" and state["matches"] == 1 and state["fraction"] == 1.0
    status, _, body = request(server, "GET", f"/scans/{state['id']}")
    assert status == 200
    tree = parse(body.decode())
    [article] = tree.find_all("article", cls="match")
    assert len(article.find_all("img")) == 2  # the two spectrograms
    sources = [a.attrs["src"] for a in article.find_all("audio")]
    assert sources[0].startswith(f"/media?path={quote(str(media['query']), safe='')}#t=")
    assert sources[1].startswith(f"/media?path={quote(str(media['ref']), safe='')}#t=")
    home = parse(request(server, "GET", "/")[2].decode())
    assert home.by_id("scans") is not None and str(media["query"]) in home.by_id("scans").text


def test_a_failed_scan_says_why(server: HomageServer, tmp_path: Path) -> None:
    state = scan(server, tmp_path / f"{HOSTILE}.wav")
    assert state["state"] == "failed" and "no such file" in state["message"]
    page = request(server, "GET", f"/scans/{state['id']}")[2].decode()
    assert "<script>alert" not in page
    assert parse(page).by_id("job-error") is not None


def test_media_is_served_in_ranges_for_library_and_scanned_files(server: HomageServer,
                                                                  media) -> None:
    scan(server, media["query"])
    for path in (media["ref"], media["query"]):
        data = path.read_bytes()
        url = "/media?path=" + quote(str(path), safe="")
        status, headers, body = request(server, "GET", url)
        assert status == 200 and body == data and headers["accept-ranges"] == "bytes"
        assert headers["content-type"] in ("audio/x-wav", "audio/wav")
        status, headers, body = request(server, "GET", url, headers={"Range": "bytes=100-199"})
        assert status == 206 and body == data[100:200]
        assert headers["content-range"] == f"bytes 100-199/{len(data)}"
        status, _, body = request(server, "GET", url, headers={"Range": "bytes=-10"})
        assert status == 206 and body == data[-10:]
        status, headers, _ = request(server, "GET", url,
                                     headers={"Range": f"bytes={len(data)}-"})
        assert status == 416 and headers["content-range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize("path", ["private", "/etc/passwd", "relative.wav", "", "../x"])
def test_media_refuses_other_files(server: HomageServer, media, path: str) -> None:
    target = str(media["private"]) if path == "private" else path
    status, _, body = request(server, "GET", "/media?path=" + quote(target, safe=""))
    assert status == 404 and b"root:" not in body


def test_guards_against_other_sites(server: HomageServer, media) -> None:
    port = server.server_address[1]
    status, _, _ = request(server, "GET", "/", headers={"Host": f"evil.example:{port}"})
    assert status == 421  # DNS rebinding
    status, _, _ = request(server, "POST", "/scan", body=urlencode({"path": "/x"}),
                           headers={"Origin": "http://evil.example",
                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403
    assert request(server, "GET", "/nowhere")[0] == 404
    assert request(server, "GET", "/scans/999")[0] == 404
    assert request(server, "POST", "/scan", body="path=")[0] == 400


def test_serve_reports_a_busy_port_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["--library", str(tmp_path / "lib"), "serve",
                                          "--port", str(port)])
    assert result.exit_code == 1
    assert "cannot listen on 127.0.0.1" in result.output and len(result.output.splitlines()) == 1
