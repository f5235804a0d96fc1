"""The pure parts of cluster indexing: batch planning, progress buffering and relaying, and
what happens without Ray or with a bad cluster address (no Ray started)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from homage.cluster.batches import largest_first, plan_batches
from homage.cluster.pool import check_machines
from homage.cluster.progress import EventBuffer, OncePerFile, ProgressInbox
from homage.cluster.runtime import check_address, import_ray
from homage.errors import LibraryError, ParameterError
from homage.pipeline import ProgressEvent


def _files(n: int) -> list[Path]:
    return [Path(f"/media/f{i:02d}.flac") for i in range(n)]


def test_batches_keep_every_file_once_in_order() -> None:
    files = _files(37)
    sizes = [(i * 7919) % 1000 + 1 for i in range(37)]
    batches = plan_batches(files, sizes, workers=2)
    assert [f for batch in batches for f in batch] == files
    assert all(batch for batch in batches)


def test_batches_shrink_as_the_run_goes_and_end_with_single_files() -> None:
    files = _files(40)
    batches = plan_batches(files, [100] * 40, workers=2)
    sizes = [len(b) for b in batches]
    assert sizes == sorted(sizes, reverse=True)   # guided: big batches first
    assert sizes[0] == 10                         # half the run's bytes over two workers
    assert sizes[-4:] == [1, 1, 1, 1]             # the workers finish together
    assert len(batches) < 20                      # far fewer calls than files


def test_a_big_file_closes_its_batch_and_tiny_ones_are_capped() -> None:
    files = _files(6)
    batches = plan_batches(files, [10, 10, 10_000, 10, 10, 10], workers=1)
    assert [len(b) for b in batches] == [3, 2, 1]
    many = plan_batches(_files(50), [1] * 50, workers=1, max_files=16)
    assert max(len(b) for b in many) == 16


def test_the_biggest_batches_are_handed_out_first() -> None:
    files = _files(5)
    sizes = dict(zip(files, [1, 1, 50, 1, 1], strict=True))
    batches = [[files[0], files[1]], [files[2]], [files[3], files[4]]]
    assert largest_first(batches, sizes) == [1, 0, 2]


def test_no_files_no_batches_and_unknown_sizes_one_file_each() -> None:
    assert plan_batches([], [], workers=2) == []
    assert plan_batches(_files(3), [0, 0, 0], workers=4) == [[f] for f in _files(3)]


@pytest.mark.parametrize("bad", [{"workers": 0}, {"max_files": 0}, {"share": 0.0},
                                 {"share": 1.5}])
def test_batch_plan_refuses_nonsense(bad: dict[str, float]) -> None:
    options: dict[str, float] = {"workers": 1} | bad
    with pytest.raises(ValueError, match=r"at least 1|share"):
        plan_batches(_files(2), [1, 1], **options)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="length"):
        plan_batches(_files(2), [1], workers=1)


def test_event_buffer_merges_advances_and_sends_in_bursts() -> None:
    now = [0.0]
    sent: list[list[ProgressEvent]] = []
    buffer = EventBuffer(sent.append, every=0.5, clock=lambda: now[0])
    buffer(ProgressEvent("start", "a", seconds=20.0))
    for _ in range(4):
        buffer(ProgressEvent("advance", "a", seconds=2.5))
    assert sent == []
    now[0] = 0.6
    buffer(ProgressEvent("advance", "a", seconds=1.0))
    assert sent == [[ProgressEvent("start", "a", seconds=20.0),
                     ProgressEvent("advance", "a", seconds=11.0)]]
    buffer(ProgressEvent("advance", "a", seconds=1.0))
    buffer(ProgressEvent("advance", "b", seconds=3.0))
    buffer(ProgressEvent("done", "a"))
    buffer.flush()
    assert sent[1] == [ProgressEvent("advance", "a", seconds=1.0),
                       ProgressEvent("advance", "b", seconds=3.0), ProgressEvent("done", "a")]
    buffer.flush()
    assert len(sent) == 2  # nothing left, nothing sent


def test_inbox_hands_over_each_event_once() -> None:
    inbox = ProgressInbox()
    inbox.put([ProgressEvent("start", "a")])
    inbox.put([ProgressEvent("done", "a")])
    assert [e.stage for e in inbox.take()] == ["start", "done"]
    assert inbox.take() == []


def test_a_retried_file_is_reported_finished_once() -> None:
    seen: list[ProgressEvent] = []
    relay = OncePerFile(seen.append)
    for event in [ProgressEvent("start", "a", seconds=10), ProgressEvent("done", "a"),
                  ProgressEvent("start", "b", seconds=5), ProgressEvent("failed", "b", message="x"),
                  ProgressEvent("start", "a", seconds=10), ProgressEvent("done", "a"),
                  ProgressEvent("start", "c", seconds=1)]:
        relay(event)
    assert [(e.stage, e.path) for e in seen] == [
        ("start", "a"), ("done", "a"), ("start", "b"), ("failed", "b"), ("start", "c")]
    assert relay.finished("a") and relay.finished("b") and not relay.finished("c")


def test_without_ray_installed_the_error_says_how_to_get_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ParameterError, match=r"homage\[cluster\]"):
        import_ray()


def test_cluster_addresses() -> None:
    assert check_address("ray://head.example:10001") == "ray://head.example:10001"
    for bad in ("head:10001", "ray://head", "ray://:10001", "ray://head:port"):
        with pytest.raises(ParameterError, match="ray://HOST:PORT"):
            check_address(bad)


class _Reply:
    """An actor method's ``.remote()`` with its answer ready (what ``check_machines`` sees
    of an actor), so the multi-machine rule is tested without a cluster of machines."""

    def __init__(self, answer: tuple[str, int]) -> None:
        self.identity = self
        self._answer = answer

    def remote(self) -> tuple[str, int]:
        return self._answer


class _ReadyRay:
    @staticmethod
    def get(refs: list[tuple[str, int]]) -> list[tuple[str, int]]:
        return refs


def test_a_library_folder_is_refused_to_actors_on_several_machines() -> None:
    pytest.importorskip("ray", reason="the cluster tests need homage[cluster]")
    spread = [_Reply(("node-a", 10)), _Reply(("node-b", 11))]
    with pytest.raises(LibraryError, match=r"2 machines .*PostgreSQL"):
        check_machines(_ReadyRay(), spread, Path("/srv/library"))
    check_machines(_ReadyRay(), spread, "postgresql://db.example/homage")  # takes any writer
    check_machines(_ReadyRay(), [_Reply(("node-a", 10)), _Reply(("node-a", 12))],
                   Path("/srv/library"))
