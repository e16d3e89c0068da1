"""Run many small, independent tasks on every core: in this process and in worker processes.

A new worker process first imports what the tasks need (the scientific stack: one or two seconds
of a core); this process has it all already. So this process works from the first moment, and only
``jobs - 1`` workers are started: one process fewer pays for the imports, and no core waits for them.
Tasks go out in chunks that shrink towards the end (a worker's results come back a chunk at a time),
two chunks per worker at a time from the front of the queue (its next one at hand while this process
is busy), this process's from the back, so the two meet in the middle. When the queue is empty, this
process waits for the workers' last chunks, unless no worker has answered yet (still starting: a small
fleet is done before one is up); then their chunks are done here as well, the first answer kept (tasks
are deterministic, so either copy is the same), and the workers are stopped.
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
    in whatever order they finish, exactly once per task. ``chunk_size`` fixes the chunks' size (tests)."""
    from threadpoolctl import threadpool_limits

    sharing = _Sharing(function, tasks, max(jobs, 1), on_result, chunk_size)
    with threadpool_limits(1):
        if jobs <= 1 or len(tasks) <= 1:
            for index in range(len(tasks)):
                sharing.here(range(index, index + 1))
        else:
            sharing.with_workers(jobs - 1)
    return sharing.results


class _Sharing:
    """The tasks not yet given out are ``[front, back)``: workers take from the front, this process from
    the back. A worker's chunk is a quarter of each process's share of what is left (1 to :data:`MAX_CHUNK`),
    this process's a quarter of that: between its chunks it hands the workers their next ones."""

    def __init__(
        self,
        function: Callable[..., Any],
        tasks: Sequence[tuple[Any, ...]],
        jobs: int,
        on_result: Callable[[Any], None] | None,
        chunk_size: int | None,
    ):
        self.function, self.tasks, self.jobs = function, tasks, jobs
        self.on_result, self.chunk_size = on_result, chunk_size
        self.results: list[Any] = [None] * len(tasks)
        self.done = [False] * len(tasks)
        self.left = len(tasks)
        self.front, self.back = 0, len(tasks)

    def here(self, span: range) -> None:
        self.keep(span, run_chunk(self.function, [self.tasks[i] for i in span]))

    def keep(self, span: range, answers: list[Any]) -> None:
        for index, answer in zip(span, answers, strict=True):
            if self.done[index]:
                continue  # the other copy of this task came first
            self.done[index], self.results[index] = True, answer
            self.left -= 1
            if self.on_result is not None:
                self.on_result(answer)

    def take(self, from_front: bool) -> range:
        """A worker's chunk from the front; this process's from the back, a quarter of a worker's, so it
        looks in on the workers (and gives them their next chunk) often."""
        size = self.chunk_size or min(MAX_CHUNK, max(1, (self.back - self.front) // (4 * self.jobs)))
        if not from_front and not self.chunk_size:
            size = max(1, size // 4)
        size = min(size, self.back - self.front)
        if from_front:
            self.front += size
            return range(self.front - size, self.front)
        self.back -= size
        return range(self.back, self.back + size)

    def with_workers(self, workers: int) -> None:
        """The workers keep two chunks each (the next at hand while this process is busy with its own)."""
        from joblib.externals.loky import get_reusable_executor

        executor = get_reusable_executor(max_workers=workers, env=dict.fromkeys(ONE_THREAD, "1"))
        running: dict[Future[list[Any]], range] = {}
        answered = False

        def collect(future: Future[list[Any]]) -> None:
            nonlocal workers, answered
            span = running.pop(future)
            try:
                self.keep(span, future.result())
                answered = True
            except BrokenExecutor as exc:  # a worker died (killed, out of memory): go on here alone
                warnings.warn(f"a worker process stopped ({exc}); this process does the rest", stacklevel=4)
                workers = 0
                self.here(span)

        try:
            while self.left:
                while self.front < self.back and len(running) < 2 * workers:
                    span = self.take(from_front=True)
                    running[executor.submit(run_chunk, self.function, [self.tasks[i] for i in span])] = span
                for future in [f for f in running if f.done()]:
                    collect(future)
                if self.front < self.back:
                    self.here(self.take(from_front=False))
                elif running and answered:  # nothing left to give out; the workers are up: wait for them
                    for future in wait(running, return_when=FIRST_COMPLETED).done:
                        collect(future)
                else:  # no worker has answered (still starting): do what they hold here too, the last first
                    held = [span for span in running.values() if not all(self.done[i] for i in span)]
                    if held:
                        self.here(held[-1])
        except BaseException:
            executor.shutdown(wait=False)  # the workers finish what they hold (killing races with loky's queue)
            raise
        if running:  # a worker that never answered (still starting): stopped, not waited for
            executor.shutdown(wait=False, kill_workers=True)
