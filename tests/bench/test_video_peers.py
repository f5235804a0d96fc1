"""The PyPI peers of ``homage bench video``, and the rule that turns vPDQ's frame matches into
segments.

The slow tests build each peer's venv (cached like the audio peers') and run it on tiny
synthetic videos made with PyAV: two unlike references of textured, moving scenes, a query
that holds a 6 s copy of the first inside unrelated scenes, and a downscaled re-encode of
the first for the peers that only compare whole videos.  A peer that cannot be installed
here is skipped with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from homage.bench.peers import (
    AVAILABLE_VIDEO_PEERS,
    PeerResult,
    VideoPeer,
    default_work_dir,
)
from homage.bench.peers._drivers import _video

# -- the segment rule (fast) ------------------------------------------------------------------


def _spans(segments: list[dict[str, float]]) -> list[tuple[float, float, float, float]]:
    return [
        (s["query_start"], s["query_end"], s["reference_start"], s["reference_end"])
        for s in segments
    ]


def test_a_constant_offset_run_is_one_segment() -> None:
    points = [(q, q + 10.0) for q in range(5, 11)]
    segments = _video.frame_segments(points, range(20), hop=1.0)
    assert _spans(segments) == [(5.0, 11.0, 15.0, 21.0)]
    assert segments[0]["raw_score"] == 6.0
    assert segments[0]["score"] == pytest.approx(6 / 8)


def test_no_points_no_segments() -> None:
    assert _video.frame_segments([], range(10), hop=1.0) == []


def test_a_gap_longer_than_the_tolerance_splits_the_run() -> None:
    points = [(q, q + 3.0) for q in (0, 1, 2, 3, 8, 9, 10)]
    split = _video.frame_segments(points, range(12), hop=1.0, gap_seconds=3.0)
    assert sorted(_spans(split)) == [(0.0, 4.0, 3.0, 7.0), (8.0, 11.0, 11.0, 14.0)]
    joined = _video.frame_segments(points, range(12), hop=1.0, gap_seconds=5.0)
    assert _spans(joined) == [(0.0, 11.0, 3.0, 14.0)]
    # the missing query frames inside the joined span lower its density
    assert joined[0]["score"] == pytest.approx((7 / 11) * 7 / 9)


def test_a_jump_in_offset_starts_a_new_segment() -> None:
    points = [(q, q + 10.0) for q in range(0, 5)] + [(q, q + 30.0) for q in range(5, 10)]
    segments = _video.frame_segments(points, range(10), hop=1.0)
    assert sorted(_spans(segments)) == [(0.0, 5.0, 10.0, 15.0), (5.0, 10.0, 35.0, 40.0)]


def test_a_speed_change_drifts_the_offset_but_stays_one_segment() -> None:
    fast = [(q, 2.0 * q + 5.0) for q in range(0, 9)]  # query plays the reference ×2
    slow = [(q, 0.5 * q + 5.0) for q in range(0, 9)]  # and ×0.5
    assert _spans(_video.frame_segments(fast, range(9), hop=1.0)) == [(0.0, 9.0, 5.0, 22.0)]
    assert _spans(_video.frame_segments(slow, range(9), hop=1.0)) == [(0.0, 9.0, 5.0, 10.0)]


def test_a_static_shot_matching_many_frames_yields_one_segment() -> None:
    # five query seconds of a still shot match five reference seconds of it, every pair
    points = [(q, r) for q in range(0, 5) for r in range(10, 15)]
    segments = _video.frame_segments(points, range(5), hop=1.0)
    assert len(segments) == 1
    q0, q1, r0, r1 = _spans(segments)[0]
    assert (q0, q1) == (0.0, 5.0)
    assert 10.0 <= r0 < r1 <= 15.0


def test_a_lone_frame_scores_low_and_a_long_run_high() -> None:
    lone = _video.frame_segments([(3.0, 40.0)], range(10), hop=1.0)
    run = _video.frame_segments([(q, q + 1.0) for q in range(30)], range(30), hop=1.0)
    assert lone[0]["score"] == pytest.approx(1 / 3)
    assert run[0]["score"] > 0.9


def test_segments_are_clipped_to_the_durations() -> None:
    points = [(q, q + 17.0) for q in (6.0, 7.0, 8.0)]
    segments = _video.frame_segments(
        points, [6.0, 7.0, 8.0], hop=1.0, query_duration=8.5, reference_duration=25.2
    )
    assert _spans(segments) == [(6.0, 8.5, 23.0, 25.2)]


def test_a_chain_takes_one_point_per_query_time() -> None:
    chains = _video.chain_points([(0.0, 0.0), (0.0, 0.5), (1.0, 1.0), (2.0, 2.0)])
    assert sorted(len(c) for c in chains) == [1, 3]
    assert all(len({q for q, _ in c}) == len(c) for c in chains)


def test_a_stray_match_at_one_time_does_not_break_the_run() -> None:
    # at 15 s the query frame also matches the reference frame before the right one; the
    # right one must continue the run, not start a second segment
    points = [(q, q + 50.0) for q in range(10, 25)] + [(15.0, 64.0)]
    segments = _video.frame_segments(points, range(30), hop=1.0)
    assert _spans(segments) == [(10.0, 25.0, 60.0, 75.0)]


def test_vpdq_matches_of_a_sped_up_copy_make_one_segment() -> None:
    # what vPDQ matched (distance < 31) for Big Buck Bunny 60-82 s played ×1.5 at 360p:
    # near-identical neighbouring frames give stray and parallel matches around the run
    points = [
        (0, 59), (0, 60), (1, 62), (2, 63), (3, 64), (3, 65), (4, 66),
        (7, 70), (7, 71), (8, 72), (8, 73), (9, 72), (9, 73), (12, 78),
    ]  # fmt: skip
    segments = _video.frame_segments(points, range(15), hop=1.0, query_duration=15.0)
    assert _spans(segments) == [(0.0, 13.0, 60.0, 79.0)]
    assert segments[0]["raw_score"] == 9.0


def test_a_weaker_parallel_chain_on_the_same_query_span_is_suppressed() -> None:
    # two parallel diagonals 1.5 s apart on the same query span: the weaker is suppressed
    points = [(q, q + 10.0) for q in range(0, 8)] + [(q, q + 13.0) for q in range(2, 6)]
    segments = _video.frame_segments(points, range(8), hop=1.0, offset_tolerance=1.0)
    assert _spans(segments) == [(0.0, 8.0, 10.0, 18.0)]
    kept = _video.frame_segments(
        points, range(8), hop=1.0, offset_tolerance=1.0, suppress_overlap=1.1
    )
    assert len(kept) == 2


# -- the peers (slow) -------------------------------------------------------------------------

W, H, FPS = 320, 240, 15
#: Ground truth: query [5, 11) s is reference A [8, 14) s.
Q_START, Q_END, R_START, R_END = 5.0, 11.0, 8.0, 14.0


def _scene(rng: np.random.Generator, seconds: float) -> Iterator[np.ndarray]:
    """A panning blocky colour texture with a moving disc: texture for PDQ, new each scene."""
    texture = np.kron(rng.random((12, 16, 3)), np.ones((40, 40, 1)))  # 480 × 640
    yy, xx = np.mgrid[0:H, 0:W]
    vx, vy = rng.uniform(-40.0, 40.0, 2)
    cx, cy = rng.uniform(60.0, 260.0), rng.uniform(60.0, 180.0)
    colour = rng.random(3)
    for k in range(round(seconds * FPS)):
        t = k / FPS
        ox, oy = int(80 + vx * t) % 160, int(60 + vy * t) % 120
        frame = texture[oy : oy + H, ox : ox + W].copy()
        px, py = cx + 60.0 * np.sin(1.3 * t), cy + 40.0 * np.cos(1.7 * t)
        frame[(xx - px) ** 2 + (yy - py) ** 2 < 30.0**2] = colour
        yield (frame * 255.0).astype(np.uint8)


def _footage(seed: int, seconds: float, scene_seconds: float = 2.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    frames: list[np.ndarray] = []
    while len(frames) < round(seconds * FPS):
        frames.extend(_scene(rng, min(scene_seconds, seconds - len(frames) / FPS)))
    return frames


def _write(path: Path, frames: list[np.ndarray], size: tuple[int, int] = (W, H)) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if size != (W, H):
                frame = frame.reformat(width=size[0], height=size[1])
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("video-peer-corpus")
    ref_a = _footage(1, 20.0)
    query = _footage(3, Q_START) + ref_a[int(R_START * FPS) : int(R_END * FPS)] + _footage(4, 5.0)
    return {
        "ref_a": _write(root / "ref_a.mp4", ref_a),
        "ref_b": _write(root / "ref_b.mp4", _footage(2, 20.0)),
        "query": _write(root / "query.mp4", query),
        "whole": _write(root / "ref_a_small.mp4", ref_a, size=(W // 2, H // 2)),
    }


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def _ready(name: str) -> VideoPeer:
    peer = AVAILABLE_VIDEO_PEERS[name]()
    reason = peer.setup(default_work_dir())
    if reason is not None:
        pytest.skip(reason)
    return peer


def _check_costs(result: PeerResult, n_queries: int) -> None:
    assert isinstance(result, PeerResult)
    assert all(0.0 <= p.score <= 1.0 for p in result.predictions)
    assert result.reference_seconds == pytest.approx(40.0, abs=0.2)
    assert result.index_cpu_seconds > 0.0
    assert result.index_wall_seconds > 0.0
    assert len(result.query_seconds_per_query) == n_queries
    assert len(result.query_cpu_seconds_per_query) == n_queries
    assert result.peak_rss_bytes > 0
    assert result.index_bytes > 0
    assert result.notes


LOCALISING = sorted(n for n, cls in AVAILABLE_VIDEO_PEERS.items() if cls.localises)
WHOLE_VIDEO = sorted(n for n, cls in AVAILABLE_VIDEO_PEERS.items() if not cls.localises)


@pytest.mark.slow
@pytest.mark.parametrize("name", LOCALISING)
def test_peer_finds_the_copied_stretch(name: str, corpus: dict[str, Path]) -> None:
    peer = _ready(name)
    refs = [corpus["ref_a"], corpus["ref_b"]]

    result = peer.run(refs, [corpus["query"]])

    _check_costs(result, 1)
    assert result.predictions, f"{name} found nothing"
    best = max(result.predictions, key=lambda p: p.score)
    assert best.query == str(corpus["query"])
    assert best.reference == str(corpus["ref_a"])
    assert best.query_start == pytest.approx(Q_START, abs=1.5)
    assert best.reference_start == pytest.approx(R_START, abs=1.5)
    assert _overlap((best.query_start, best.query_end), (Q_START, Q_END)) > 4.0
    assert _overlap((best.reference_start, best.reference_end), (R_START, R_END)) > 4.0
    assert not [p for p in result.predictions if p.reference == str(corpus["ref_b"])]


@pytest.mark.slow
@pytest.mark.parametrize("name", WHOLE_VIDEO)
def test_whole_video_peer_ranks_the_copied_reference_first(
    name: str, corpus: dict[str, Path]
) -> None:
    peer = _ready(name)
    refs = [corpus["ref_a"], corpus["ref_b"]]

    result = peer.run(refs, [corpus["whole"], corpus["query"]])

    _check_costs(result, 2)
    whole = [p for p in result.predictions if p.query == str(corpus["whole"])]
    assert whole, f"{name} found nothing for a re-encode of a reference"
    best = max(whole, key=lambda p: p.score)
    assert best.reference == str(corpus["ref_a"])
    # query-level predictions span both whole videos
    for p in result.predictions:
        assert p.query_start == 0.0 and p.reference_start == 0.0
        assert p.reference_end == pytest.approx(20.0, abs=0.2)
    assert best.query_end == pytest.approx(20.0, abs=0.2)
