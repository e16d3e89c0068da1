"""Run many small, independent tasks on every core: in this process and in worker processes.

A new worker process first imports what the tasks need (the scientific stack: one or two seconds
of a core); this process has it all already. So this process works from the first moment, and only
``jobs - 1`` workers are started: one process fewer pays for the imports, and no core waits for them.
Tasks go out in chunks that shrink towards the end (a worker's results come back a chunk at a time),
one chunk per worker at a time from the front of the queue, this process's from the back, so the two
meet in the middle. When the queue is empty, this process waits for the workers' last chunks, unless a
worker has not answered yet (still starting: a small fleet is done before it is up): then its chunk is
done here as well, the first answer kept (tasks are deterministic, so either copy is the same), and the
worker is stopped.
A worker that dies (killed, out of memory) is warned about and its chunks are done here; an error a
task raises is raised here, as if the task had run here.

Workers are loky processes (joblib's), with one BLAS thread each: on small matrices a threaded BLAS
only fights the other processes for the cores.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, wait
from typing import Any

ONE_THREAD = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


MAX_CHUNK = 16
"""Tasks per chunk at most: a chunk's results come back at once, so progress moves in steps this big."""


def default_jobs() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _chunks(n_tasks: int, jobs: int, size: int | None) -> list[range]:
    """Consecutive chunks of the tasks: ``size`` each, or (guided) a quarter of each process's share of
    what is left, 1 to :data:`MAX_CHUNK`, so chunks shrink towards the end and nobody waits long for a last one."""
    chunks: list[range] = []
    start = 0
    while start < n_tasks:
        step = size or min(MAX_CHUNK, max(1, (n_tasks - start) // (4 * max(jobs, 1))))
        chunks.append(range(start, min(start + step, n_tasks)))
        start += step
    return chunks


def run_chunk(function: Callable[..., Any], chunk: Sequence[tuple[Any, ...]]) -> list[Any]:
    """A chunk of tasks in one call (a module-level function, so a worker can receive it)."""
    return [function(*arguments) for arguments in chunk]


def run_everywhere(
    function: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    jobs: int,
    on_result: Callable[[Any], None] | None = None,
    chunk_size: int | None = None,
) -> list[Any]:
    """``function(*task)`` for every task, in task order, on ``jobs`` processes (this one included).

    ``function`` must be picklable (module level); ``on_result`` is called here as each result arrives,
    in whatever order they finish, exactly once per task."""
    from threadpoolctl import threadpool_limits

    chunks = _chunks(len(tasks), jobs, chunk_size)
    results: list[Any] = [None] * len(tasks)
    done = [False] * len(chunks)

    def keep(index: int, answers: list[Any]) -> None:
        if done[index]:
            return  # the other copy of this chunk came first
        done[index] = True
        for position, answer in zip(chunks[index], answers, strict=True):
            results[position] = answer
            if on_result is not None:
                on_result(answer)

    def here(index: int) -> None:
        keep(index, run_chunk(function, [tasks[i] for i in chunks[index]]))

    with threadpool_limits(1):
        if jobs <= 1 or len(chunks) <= 1:
            for index in range(len(chunks)):
                here(index)
            return results
        _share(function, tasks, chunks, jobs - 1, keep, here, done)
    return results


def _share(
    function: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    chunks: list[range],
    workers: int,
    keep: Callable[[int, list[Any]], None],
    here: Callable[[int], None],
    done: list[bool],
) -> None:
    """The workers take chunks from the front, this process from the back, until every chunk is done."""
    from joblib.externals.loky import get_reusable_executor

    executor = get_reusable_executor(max_workers=workers, env=dict.fromkeys(ONE_THREAD, "1"))
    running: dict[Future[list[Any]], int] = {}
    front, back = 0, len(chunks) - 1
    finished = answered = False

    def take(future: Future[list[Any]]) -> None:
        nonlocal workers, answered
        index = running.pop(future)
        try:
            keep(index, future.result())
            answered = True
        except BrokenExecutor as exc:  # a worker died (killed, out of memory): go on here alone
            warnings.warn(f"a worker process stopped ({exc}); this process does the rest", stacklevel=4)
            workers = 0

    try:
        while not all(done):
            while front <= back and len(running) < workers:  # one chunk each: none waits in a queue
                running[executor.submit(run_chunk, function, [tasks[i] for i in chunks[front]])] = front
                front += 1
            for future in [f for f in running if f.done()]:
                take(future)
            if front <= back:
                here(back)
                back -= 1
            elif running and answered:  # nothing left to take; the workers are up: their chunks end soon
                for future in wait(running, return_when=FIRST_COMPLETED).done:
                    take(future)
            else:  # a worker still starting (or one that died) holds chunks: do them here too, the last first
                held = [index for index in range(front) if not done[index]]
                if held:
                    here(held[-1])
        finished = True
    finally:
        if running or not finished:  # late copies of done chunks, or an error: do not wait for them
            executor.shutdown(wait=False, kill_workers=True)
