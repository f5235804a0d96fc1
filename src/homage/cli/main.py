"""``homage``: index reference works, scan queries, compare pairs, look after the library.

Commands parse arguments, build ``Settings``, call ``homage.pipeline`` and print; errors
become one line on stderr naming the file, with exit code 1 (2 for usage errors).
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any

import click

from homage import __version__
from homage.config import Settings, library_location, load_settings
from homage.errors import HomageError, ParameterError
from homage.library import Library, redacted
from homage.report.words import printable
from homage.types import QueryResult

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Context:
    """What the global options decided, handed to every command."""

    def __init__(self, settings: Settings, verbosity: int, debug: bool) -> None:
        self.settings = settings
        self.verbosity = verbosity
        self.debug = debug

    @property
    def show_progress(self) -> bool:
        return self.verbosity >= 0 and sys.stderr.isatty()

    def open_library(self, *, create: bool) -> Library:
        return Library.open(self.settings.library, settings=self.settings.audio,
                            visual=self.settings.visual, create=create)


def handles_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map homage's errors to one line and an exit code; ``--debug`` keeps the traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context().find_object(Context)
        try:
            return func(*args, **kwargs)
        except ParameterError as exc:
            if ctx is not None and ctx.debug:
                raise
            click.echo(f"homage: usage error: {printable(str(exc))}", err=True)
            sys.exit(EXIT_USAGE)
        except HomageError as exc:
            if ctx is not None and ctx.debug:
                raise
            click.echo(f"homage: error: {printable(str(exc))}", err=True)
            sys.exit(EXIT_FAILURE)
        except sqlite3.Error as exc:
            if ctx is not None and ctx.debug:
                raise
            click.echo(f"homage: error: {redacted(ctx.settings.library) if ctx else 'library'}: "
                       f"library database error ({exc})", err=True)
            sys.exit(EXIT_FAILURE)
        except KeyboardInterrupt:
            click.echo("homage: interrupted; the library is consistent, re-run to resume",
                       err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="homage")
@click.option("--library", "library", metavar="DIR|URL", envvar="HOMAGE_LIBRARY",
              help="Library folder, or postgresql://USER@HOST/DATABASE for a shared library "
                   "(default: $HOMAGE_LIBRARY or ~/.local/share/homage/library).")
@click.option("--kinds", help="Kinds of borrowing to look for: audio,copy,homage.")
@click.option("--threshold", type=float, help="Report matches scoring at least this (0–1).")
@click.option("--descriptor", metavar="NAME|onnx:PATH",
              help="Frame descriptor of a new library: effnet-lite0 (default), pdq, or your "
                   "own ONNX image model; a library keeps the one it was built with.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="TOML file of settings.")
@click.option("-v", "--verbose", count=True, help="More output (repeat for debug logs).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(click_ctx: click.Context, library: str | None, kinds: str | None,
        threshold: float | None, descriptor: str | None, config_path: Path | None,
        verbose: int, quiet: bool, debug: bool) -> None:
    """Find what one media work borrows from another."""
    verbosity = -1 if quiet else verbose
    logging.basicConfig(
        level=logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1
        else logging.DEBUG,
        format="homage: %(levelname)s: %(message)s",
    )
    try:
        settings = load_settings(config_path).with_overrides(
            library=library_location(library) if library else None, kinds=kinds,
            threshold=threshold, descriptor=descriptor)
    except ParameterError as exc:
        raise click.UsageError(str(exc)) from exc
    click_ctx.obj = Context(settings, verbosity, debug)


pass_context = click.make_pass_decorator(Context)


def result_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``, ``--csv`` and ``--report``: where the commands that find matches write them."""
    func = click.option("--report", "report_path",
                        type=click.Path(path_type=Path, dir_okay=False),
                        help="Write a self-contained HTML report (frame pairs, "
                             "spectrograms, timelines) here.")(func)
    func = click.option("--csv", "csv_path", type=click.Path(path_type=Path, dir_okay=False),
                        help="Write one CSV row per match here.")(func)
    return click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
                        help="Write the match JSON here.")(func)


def matching_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--kinds`` and ``--threshold`` after the verb as well as before it (``homage scan
    clip.mp4 --kinds copy``, as people write it), for this command; where not given here,
    the global options' values hold."""
    kinds_help, threshold_help = (next(p.help for p in cli.params if p.name == name)
                                  for name in ("kinds", "threshold"))

    @wraps(func)
    def wrapper(ctx: Context, *args: Any, kinds: str | None, threshold: float | None,
                **kwargs: Any) -> Any:
        ctx.settings = ctx.settings.with_overrides(kinds=kinds, threshold=threshold)
        return func(ctx, *args, **kwargs)

    wrapper = click.option("--threshold", type=float, help=threshold_help)(wrapper)
    return click.option("--kinds", help=kinds_help)(wrapper)


def parallel_options(verb: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--workers`` and ``--cluster``: run the command's files on Ray (``verb``: "Index")."""

    def checked(_: click.Context, __: click.Parameter, address: str | None) -> str | None:
        from homage.cluster.runtime import check_address

        try:
            return None if address is None else check_address(address)
        except ParameterError as exc:  # before the library is opened or Ray started
            raise click.BadParameter(str(exc)) from None

    def add(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option(
            "--cluster", "cluster", metavar="ray://HOST:PORT", callback=checked,
            help=f"{verb} on this Ray cluster (files and library at the same paths there).",
        )(func)
        return click.option(
            "--workers", type=click.IntRange(min=1), metavar="N",
            help=f"{verb} in N parallel worker processes (a local Ray; needs homage[cluster]).",
        )(func)
    return add


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@parallel_options("Index")
@pass_context
@handles_errors
def index(ctx: Context, paths: Sequence[Path], workers: int | None,
          cluster: str | None) -> None:
    """Add reference works (files, or folders walked recursively) to the library."""
    from homage.cli.progress import FileProgressBar
    from homage.pipeline import collect_media, index_paths

    files, missing = collect_media(paths)
    with ctx.open_library(create=True) as library, FileProgressBar(
        len(files), label="indexing", enabled=ctx.show_progress
    ) as bar:
        if workers is None and cluster is None:
            report = index_paths(library, files, settings=ctx.settings, progress=bar)
        else:
            from homage.cluster import index_on_ray

            report = index_on_ray(library, files, settings=ctx.settings, workers=workers,
                                  address=cluster, progress=bar)
    failed = missing + report.failed
    if ctx.verbosity >= 0:
        for old, new in report.moved:
            click.echo(f"moved: {printable(old)} -> {printable(new)}")
        for dup, original in report.duplicates:
            click.echo(f"skipped duplicate: {printable(dup)} (same content as "
                       f"{printable(original)})")
        click.echo(
            f"indexed {len(report.added)} new, {len(report.unchanged)} unchanged, "
            f"{len(report.moved)} moved, {len(report.duplicates)} duplicates, "
            f"{len(failed)} failed ({report.seconds:,.0f} s of audio)"
        )
    if failed:
        _report_failures([str(e) for e in failed])
        sys.exit(EXIT_FAILURE)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@result_options
@parallel_options("Scan")
@click.option("--shards", type=click.IntRange(min=1), metavar="S",
              help="Search frame vectors in S shards held across the Ray cluster, for a "
                   "library whose vector index does not fit one machine.")
@pass_context
@handles_errors
@matching_options
def scan(ctx: Context, paths: Sequence[Path], json_path: Path | None,
         csv_path: Path | None, report_path: Path | None, workers: int | None,
         cluster: str | None, shards: int | None) -> None:
    """Find what query works borrow from the library."""
    from homage.cli.progress import FileProgressBar
    from homage.pipeline import collect_media, scan_paths

    files, missing = collect_media(paths)
    with ctx.open_library(create=False) as library, FileProgressBar(
        len(files), label="scanning", enabled=ctx.show_progress
    ) as bar:
        if workers is None and cluster is None and shards is None:
            results, failures = scan_paths(library, files, settings=ctx.settings,
                                           progress=bar)
        else:
            from homage.cluster import scan_on_ray

            results, failures = scan_on_ray(library, files, settings=ctx.settings,
                                            workers=workers, address=cluster, shards=shards,
                                            progress=bar)
    failures = missing + failures
    _emit(ctx, results, json_path=json_path, csv_path=csv_path, as_list=len(paths) > 1
          or any(p.is_dir() for p in paths), report_path=report_path)
    if failures:
        _report_failures([str(e) for e in failures])
        sys.exit(EXIT_FAILURE)


@cli.command()
@click.argument("query", type=click.Path(path_type=Path))
@click.argument("reference", type=click.Path(path_type=Path))
@result_options
@pass_context
@handles_errors
@matching_options
def compare(ctx: Context, query: Path, reference: Path, json_path: Path | None,
            csv_path: Path | None, report_path: Path | None) -> None:
    """Match one QUERY against one REFERENCE, without a library."""
    from homage.pipeline import compare_files

    result = compare_files(query, reference, settings=ctx.settings)
    _emit(ctx, [result], json_path=json_path, csv_path=csv_path, as_list=False,
          report_path=report_path)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (anything but loopback exposes the library).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port).")
@pass_context
@handles_errors
def serve(ctx: Context, host: str, port: int) -> None:
    """Browse the library, scan files and read their reports in a local web UI."""
    from homage.web import serve as serve_web

    serve_web(ctx.settings, host=host, port=port,
              log=lambda line: click.echo(printable(line), err=True))


@cli.group()
def library() -> None:
    """Look after the library: list, stats, remove, check."""


@library.command("list")
@pass_context
@handles_errors
def library_list(ctx: Context) -> None:
    """Each work's path, duration, fingerprint count and (for video) frame count."""
    from homage.report import timecode

    with ctx.open_library(create=False) as lib:
        for work in lib.works():
            frames = f"\t{work.frames} frames" if work.frames else ""
            click.echo(f"{printable(work.path)}\t{timecode(work.duration)}\t"
                       f"{work.fingerprints} fingerprints{frames}")


@library.command("stats")
@pass_context
@handles_errors
def library_stats(ctx: Context) -> None:
    """How much the library holds and how big it is on disk."""
    with ctx.open_library(create=False) as lib:
        stats, where = lib.stats(), lib.location
    hours = stats.total_duration / 3600
    size = (stats.database_bytes + stats.index_bytes) / 1e6
    click.echo(f"library: {printable(where)}")
    click.echo(f"works: {stats.works}")
    click.echo(f"duration: {hours:.2f} h")
    click.echo(f"audio fingerprints: {stats.fingerprints:,}")
    click.echo(f"video frames: {stats.frames:,}")
    click.echo(f"disk: {size:.1f} MB ({size / hours if hours else 0:.1f} MB per hour)")


@library.command("remove")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_context
@handles_errors
def library_remove(ctx: Context, paths: Sequence[Path]) -> None:
    """Remove works from the library (by the path they were indexed under)."""
    missing = []
    with ctx.open_library(create=False) as lib:
        for path in paths:
            work = lib.work_by_path(str(path.resolve())) or lib.work_by_path(str(path))
            if work is None:
                missing.append(f"{path}: not in the library")
                continue
            lib.remove_work(work.id)
            if ctx.verbosity >= 0:
                click.echo(f"removed: {printable(work.path)}")
    if missing:
        _report_failures(missing)
        sys.exit(EXIT_FAILURE)


@library.command("check")
@click.option("--repair", is_flag=True, help="Drop entries that cannot be trusted.")
@pass_context
@handles_errors
def library_check(ctx: Context, repair: bool) -> None:
    """Verify that catalogue, fingerprints, derived indexes and files agree."""
    from homage.copies import descriptor_for
    from homage.library.check import check_library

    dim = descriptor_for(ctx.settings.visual.descriptor).dim
    with ctx.open_library(create=False) as lib:
        report = check_library(lib, visual_dim=dim)
        if report.problems and repair:
            click.echo(f"repaired {lib.repair()} entries")
            report = check_library(lib, visual_dim=dim)
    for path in report.gone:
        click.echo(f"warning: {printable(path)}: file no longer on disk (kept in library)")
    for path in report.changed:
        click.echo(f"warning: {printable(path)}: file changed since it was indexed "
                   "(run `homage index` on it again)")
    for problem in report.problems:
        click.echo(f"problem: {printable(problem)}")
    if report.problems:
        sys.exit(EXIT_FAILURE)
    click.echo("library ok")


@cli.group()
def bench() -> None:
    """Benchmarks: homage beside its peers on generated corpora (JSON + one summary line)."""


def bench_options(kind: str, peers: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options every ``homage bench KIND`` takes."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed((
            click.option("--quick", is_flag=True, help="The few-minute variant."),
            click.option("--seed", type=int, default=0, show_default=True,
                         help="Corpus seed."),
            click.option("--cache", "cache", type=click.Path(path_type=Path, file_okay=False),
                         help="Where corpora and peer environments live "
                              "(default: ~/.cache/homage/bench)."),
            click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
                         help=f"Result JSON (default: bench-results/{kind}-VARIANT-seedN.json)."),
            click.option("--peers", default=peers, show_default=True,
                         help="Comma-separated peers to run beside homage ('' for none)."),
        )):
            func = option(func)
        return func

    return decorate


@bench.command("audio")
@bench_options("audio", "sample-id,audfprint2,audfprint2-speeds,pydejavu")
@pass_context
@handles_errors
def bench_audio(ctx: Context, quick: bool, seed: int, cache: Path | None, out: Path | None,
                peers: str) -> None:
    """Audio-sample benchmark (see docs/benchmarks.md)."""
    from homage.bench.audio import run_audio_bench

    _run_bench(ctx, run_audio_bench, "audio", quick=quick, seed=seed, cache=cache, out=out,
               peers=peers)


@bench.command("video")
@bench_options("video", "vpdq,tmkpy,videohash")
@click.option("--calibrate", "calibrate_descriptor", metavar="DESCRIPTOR",
              help="Instead of benchmarking, fit the copy score's weights for DESCRIPTOR on "
                   "the corpora of --calibration-seeds (seeds the benchmark does not report).")
@click.option("--calibration-seeds", default="1,2,3", show_default=True,
              help="Comma-separated corpus seeds for --calibrate.")
@pass_context
@handles_errors
def bench_video(ctx: Context, quick: bool, seed: int, cache: Path | None, out: Path | None,
                peers: str, calibrate_descriptor: str | None, calibration_seeds: str) -> None:
    """Video-copy benchmark: homage, its per-frame-PDQ ablation and the peers."""
    from homage.bench.video import calibrate, run_video_bench
    from homage.config import default_cache_dir

    if calibrate_descriptor is not None:
        try:
            seeds = [int(s) for s in calibration_seeds.split(",") if s.strip()]
        except ValueError as exc:
            raise ParameterError(f"--calibration-seeds: not integers ({exc})") from exc
        fitted = calibrate(cache or default_cache_dir() / "bench", quick=quick, seeds=seeds,
                           descriptor=calibrate_descriptor, log=_bench_log(ctx))
        click.echo("CALIBRATION " + json.dumps(fitted, separators=(",", ":")))
        return
    _run_bench(ctx, run_video_bench, "video", quick=quick, seed=seed, cache=cache, out=out,
               peers=peers)


@bench.command("homage")
@bench_options("homage", "")
@click.option("--fit", is_flag=True,
              help="Also learn the homage score and the copy-or-re-rendering label on the "
                   "training split; reports the test split with them, prints the weights and "
                   "writes the score's trees beside the result (needs the fit extra).")
@pass_context
@handles_errors
def bench_homage(ctx: Context, quick: bool, seed: int, cache: Path | None, out: Path | None,
                 peers: str, fit: bool) -> None:
    """Visual-homage benchmark: re-staged shots, beside the copy descriptor and per-frame
    PDQ, on the test split."""
    from homage.bench.homage import run_homage_bench

    _run_bench(ctx, functools.partial(run_homage_bench, fit=fit), "homage", quick=quick,
               seed=seed, cache=cache, out=out, peers=peers)


@bench.command("scale")
@bench_options("scale", "")
@click.option("--backends", default="sqlite", show_default=True,
              help="Comma-separated library backends to index into (sqlite, postgresql).")
@click.option("--library-url", metavar="URL",
              help="A database the bench may fill and empty, for a server backend.")
@click.option("--workers", "worker_counts", default="1,2", show_default=True,
              help="Comma-separated worker counts to measure indexing with.")
@click.option("--audio-hours", metavar="H,H,...",
              help="Library sizes of the audio latency curve (default: by variant).")
@click.option("--video-hours", metavar="H,H,...",
              help="Library sizes of the video latency curve (default: by variant).")
@pass_context
@handles_errors
def bench_scale(ctx: Context, quick: bool, seed: int, cache: Path | None, out: Path | None,
                peers: str, backends: str, library_url: str | None, worker_counts: str,
                audio_hours: str | None, video_hours: str | None) -> None:
    """Query latency and memory as the library grows; indexing with 1 and 2 workers."""
    from homage.bench.scale import run_scale_bench, summary_line
    from homage.config import default_cache_dir

    if peers:
        raise ParameterError("bench scale runs no peers; --backends picks library backends")
    variant = "quick" if quick else "full"
    out = out or Path("bench-results") / f"scale-{variant}-seed{seed}.json"
    result = run_scale_bench(
        cache or default_cache_dir() / "bench", quick=quick, seed=seed, out=out,
        backends=_listed("--backends", backends, str), library_url=library_url,
        workers=_listed("--workers", worker_counts, int),
        audio_hours=_listed("--audio-hours", audio_hours, float) if audio_hours else None,
        video_hours=_listed("--video-hours", video_hours, float) if video_hours else None,
        log=_bench_log(ctx))
    click.echo(f"wrote {out}", err=True)
    click.echo(summary_line(result))


def _listed(option: str, value: str, kind: Callable[[str], Any]) -> list[Any]:
    """A comma-separated option's items, converted; a usage error names the option."""
    try:
        items = [kind(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise ParameterError(f"{option}: {exc}") from exc
    if not items or any(isinstance(i, int | float) and i <= 0 for i in items):
        raise ParameterError(f"{option}: expected positive values, not {value!r}")
    return items


def _bench_log(ctx: Context) -> Callable[[str], None]:
    return lambda line: click.echo(line, err=True) if ctx.verbosity >= 0 else None


def _run_bench(ctx: Context, run: Callable[..., dict[str, object]], kind: str, *, quick: bool,
               seed: int, cache: Path | None, out: Path | None, peers: str) -> None:
    from homage.bench.harness import summary_line
    from homage.config import default_cache_dir

    variant = "quick" if quick else "full"
    out = out or Path("bench-results") / f"{kind}-{variant}-seed{seed}.json"
    result = run(cache or default_cache_dir() / "bench", quick=quick, seed=seed,
                 peers=[p for p in peers.split(",") if p], out=out, log=_bench_log(ctx))
    click.echo(f"wrote {out}", err=True)
    click.echo(summary_line(result))


def _emit(ctx: Context, results: list[QueryResult], *, json_path: Path | None,
          csv_path: Path | None, as_list: bool, report_path: Path | None = None) -> None:
    from homage.report import describe_transform, time_range, timecode, write_csv, write_json

    if json_path is not None and results:
        write_json(results, json_path, as_list=as_list)
    if csv_path is not None:
        write_csv(results, csv_path)
    if report_path is not None:
        from homage.report.html import write_report

        write_report(results, report_path)
    if ctx.verbosity < 0:
        return
    for result in results:
        n = len(result.matches)
        click.echo(f"{printable(result.query)} ({timecode(result.duration)}): "
                   f"{n} match{'es' if n != 1 else ''}")
        for m in result.matches:
            click.echo(
                f"  {m.kind} {timecode(m.query_start)}–{timecode(m.query_end)} <- "
                f"{printable(m.reference)} {timecode(m.reference_start)}–"
                f"{timecode(m.reference_end)}  score {m.score:.2f}  "
                f"{describe_transform(m.transform, m.kind)}"
                + (f"  (also at {', '.join(time_range(*r) for r in m.also_at)})"
                   if m.also_at else "")
            )


def _report_failures(messages: Sequence[str]) -> None:
    click.echo(f"homage: {len(messages)} file(s) failed:", err=True)
    for message in messages:
        click.echo(f"  {printable(message)}", err=True)


def main() -> None:
    try:
        cli(prog_name="homage")
    finally:
        # The command is over and its writes are committed.  A Ctrl-C from here on could
        # only interrupt Python's own clean-up (multiprocessing's exit finalisers) and print
        # a traceback about nothing, so the rest of the exit ignores it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
