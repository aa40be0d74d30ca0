"""Many panoramas through one operation, in parallel, on this machine or a cluster.

Invariant: `map_panoramas` gives every input exactly one `Outcome`, in input order,
holding either the operation's value or the text of its error: one bad file never stops
the others, and nothing is raised for it. The operation runs on any
``concurrent.futures.Executor``: a local process pool by default, or a studio cluster's
(``dask.distributed.Client(...).get_executor()``), so the same call scales out.

For a process pool or a cluster the operation must be picklable and importable where it
runs (a function defined at module level in an importable module, or a
``functools.partial`` of one; not a lambda or a function typed into a notebook cell),
and the paths must be readable there (a shared drive for a cluster). The CLI's batch commands (`cli_batch`) are one call
to `map_panoramas` plus printing.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, TextIO

if TYPE_CHECKING:  # concurrent.futures (and logging with it) loads only for a pool
    from concurrent.futures import Executor, Future

__all__ = ["Outcome", "find_panoramas", "map_panoramas", "cli_batch", "add_jobs",
           "out_dir_for", "PANORAMA_SUFFIXES"]

# What a folder is searched for (a file named on the command line is tried whatever
# its suffix, so the error says what is wrong with it).
PANORAMA_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class Outcome:
    """What one panorama gave: ``value`` when ``ok``, else ``error`` (the message)."""

    path: Path
    value: Any = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def find_panoramas(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """The files to process: each input file as given (even a missing one, so it is
    reported), and each folder's panorama files (by suffix, sorted, not recursive,
    hidden and temporary files skipped). Duplicates are kept once, first place."""
    seen: dict[Path, None] = {}
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.iterdir()):
                if f.is_file() and f.suffix.lower() in PANORAMA_SUFFIXES \
                        and not f.name.startswith("."):
                    seen.setdefault(f, None)
        else:
            seen.setdefault(p, None)
    return list(seen)


def out_dir_for(path: Path, out_root: str | os.PathLike, many: bool) -> Path:
    """Where the files made from ``path`` go: ``out_root`` itself for a single input,
    ``out_root/<file stem>`` when there are many."""
    return Path(out_root) / path.stem if many else Path(out_root)


_busy = False  # in a pool worker: a panorama is being processed (`_on_terminate`)


def _run_one(fn: Callable[[Path], Any], path: Path) -> Outcome:
    """``fn(path)`` as an Outcome; runs where the executor runs it. Errors become text
    here, since not every exception survives pickling back from a worker."""
    global _busy
    t = time.perf_counter()
    try:
        _busy = True
        value = fn(path)
    except (Exception, SystemExit) as e:  # one bad panorama must not stop the batch
        if isinstance(e, (ValueError, OSError)):
            msg = str(e) or type(e).__name__
        else:  # a bug rather than a bad file: keep the place it happened
            import traceback  # only here: ~7 ms of every cold `skybox-nb seams`

            msg = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}"
        return Outcome(path, error=msg, seconds=time.perf_counter() - t)
    finally:
        _busy = False
    return Outcome(path, value=value, seconds=time.perf_counter() - t)


def _on_terminate(signum: int, frame: Any) -> None:
    """A pool worker told to stop (the batch was interrupted): a panorama in hand is
    unwound, so the file being written is removed by its writer, never left half-made;
    an idle worker just ends."""
    if _busy:
        raise KeyboardInterrupt
    os._exit(128 + signum)


def _stop_workers(pool: Any) -> None:
    """End a local pool's workers now (an interrupted batch): nothing queued starts, each
    worker is told to stop (SIGTERM: `_on_terminate`) and waited for, killed if it
    does not end. A worker left running would go on writing files after the command
    has returned."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # CPython's own
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + 10.0
    while procs and time.monotonic() < deadline:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # again: a worker may have taken a queued item
        for proc in procs:
            proc.join(timeout=0.2)
        procs = [proc for proc in procs if proc.is_alive()]
    for proc in procs:
        proc.kill()
        proc.join(timeout=2.0)


def _worker_init() -> None:
    """Pool workers already run one per CPU: OpenCV's own threads would oversubscribe
    (and a forked OpenCV thread pool can hang). An interrupt is the parent's to handle
    (a Ctrl-C reaches the whole process group): it stops the workers (`_stop_workers`)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_terminate)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


def _start_method() -> Any:
    """Workers start from a clean single-threaded server (forkserver; spawn where there
    is none), never by forking the caller: a fork of a process with threads (a Jupyter
    kernel, OpenCV's pool, an encoder pool) can deadlock in the child."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class _Progress:
    """One progress bar on a terminal; one plain line per finished file otherwise."""

    def __init__(self, total: int, desc: str, show: bool | None, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, 0, stream
        tty = getattr(stream, "isatty", lambda: False)()
        self.show = (total > 1) if show is None else show
        self.bar = None
        if self.show and tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="pano", file=stream)

    def update(self, o: Outcome) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            if not o.ok:
                self.bar.write(f"failed: {o.path}: {o.error}", file=self.stream)
        elif self.show:
            status = f"ok ({o.seconds:.1f} s)" if o.ok else f"FAILED: {o.error}"
            print(f"[{self.done}/{self.total}] {o.path}: {status}", file=self.stream,
                  flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def map_panoramas(fn: Callable[[Path], Any], paths: Iterable[str | os.PathLike], *,
                  executor: Executor | None = None, workers: int | None = None,
                  progress: bool | None = None, desc: str = "panoramas",
                  stream: TextIO | None = None) -> list[Outcome]:
    """Run ``fn(path)`` for every path and return one `Outcome` per path, in order.

    ``executor``: any ``concurrent.futures.Executor`` (e.g. a Dask cluster's
    ``client.get_executor()``); it is used as it is and not shut down. Without one,
    a local process pool of ``workers`` processes (default: one per CPU, at most one per
    file) is made for the call; one file or ``workers=1`` runs in this process.
    ``progress``: a bar (plain lines when ``stream``, default stderr, is not a terminal);
    None shows it for more than one file.
    """
    items = [Path(p) for p in paths]
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"workers: got {workers!r}; allowed: an integer >= 1")
    bar = _Progress(len(items), desc, progress, stream or sys.stderr)
    results: list[Outcome | None] = [None] * len(items)
    try:
        n = min(workers or os.cpu_count() or 1, len(items))
        if executor is None and n <= 1:
            for i, p in enumerate(items):
                results[i] = _run_one(fn, p)
                bar.update(results[i])  # type: ignore[arg-type]
            return results  # type: ignore[return-value]
        from concurrent.futures import as_completed

        own = executor is None
        if own:  # imported here: one file, run in this process, needs no multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            executor = ProcessPoolExecutor(n, mp_context=_start_method(),
                                           initializer=_worker_init)
        pool = executor
        try:
            futures: dict[Future[Outcome], int] = {
                pool.submit(_run_one, fn, p): i for i, p in enumerate(items)}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except Exception as e:  # the worker itself died or could not be reached
                    results[i] = Outcome(items[i], error=f"{type(e).__name__}: {e}")
                bar.update(results[i])  # type: ignore[arg-type]
        except BaseException:  # Ctrl-C or SIGTERM (the CLI's): no worker outlives the call
            if own:
                _stop_workers(pool)
            raise
        finally:
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()
    return results  # type: ignore[return-value]


def add_jobs(parser: Any) -> None:
    """The ``--jobs`` option of a batch subcommand (an argparse parser)."""
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help="panoramas processed at once (default: one per CPU)")


def cli_batch(command: str, job_for: Callable[[bool], Callable[[Path], Any]],
              inputs: Iterable[str], *, workers: int | None = None,
              on_result: Callable[[Outcome, bool], None] | None = None,
              on_error: Callable[[Outcome, bool], None] | None = None) -> int:
    """A CLI subcommand over files and folders: find the panoramas, run the job
    ``job_for(many)`` returns (``many``: more than one file, e.g. to put each file's
    outputs in its own folder) on each, call ``on_result(outcome, many)`` for each
    success and ``on_error(outcome, many)`` for each failure, in input order (to print
    them, e.g. as JSON), and report the failures at the end on stderr. Returns the exit
    status: 0 when every file succeeded, 2 otherwise (and when no file was found)."""
    inputs = list(inputs)
    if workers is not None and workers < 1:
        print(f"skybox-nb {command}: --jobs: got {workers}; allowed: an integer >= 1",
              file=sys.stderr)
        return 2
    paths = find_panoramas(inputs)
    if not paths:
        print(f"skybox-nb {command}: no panorama files found in {' '.join(inputs)} "
              f"(looked for {', '.join(PANORAMA_SUFFIXES)})", file=sys.stderr)
        return 2
    many = len(paths) > 1
    outcomes = map_panoramas(job_for(many), paths, workers=workers, desc=command)
    for o in outcomes:
        call = on_result if o.ok else on_error
        if call is not None:
            call(o, many)
    failed = [o for o in outcomes if not o.ok]
    if not failed:
        return 0
    if not many:
        print(f"skybox-nb {command}: {failed[0].error}", file=sys.stderr)
        return 2
    print(f"skybox-nb {command}: {len(failed)} of {len(outcomes)} failed:", file=sys.stderr)
    for o in failed:
        print(f"  {o.path}: {o.error}", file=sys.stderr)
    return 2
