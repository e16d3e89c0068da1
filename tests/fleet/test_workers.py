"""Work shared by this process and worker processes: every task once, in order, whoever ran it."""

from __future__ import annotations

import os
import time

import pytest

from ml.workers import run_everywhere


def slow_square(i: int, seconds: float) -> tuple[int, int]:
    time.sleep(seconds)
    return i * i, os.getpid()


def die_in_a_worker(i: int, parent: int) -> int:
    if os.getpid() != parent:
        os._exit(3)  # as the kernel's out-of-memory killer would end it
    time.sleep(0.01)  # long enough a run for the worker to start (and die) before this process is done
    return i


def fail_on(i: int, bad: int) -> int:
    if i == bad:
        raise ValueError(f"task {i} is bad")
    return i


@pytest.mark.parametrize(("jobs", "chunk"), [(1, None), (2, None), (2, 1), (3, 4)])
def test_every_task_once_in_order(jobs: int, chunk: int | None) -> None:
    seen: list[int] = []
    results = run_everywhere(
        slow_square, [(i, 0.002) for i in range(60)], jobs, lambda r: seen.append(r[0]), chunk_size=chunk
    )
    assert [square for square, _ in results] == [i * i for i in range(60)]
    assert sorted(seen) == [i * i for i in range(60)]  # once each, in whatever order they finished


def test_this_process_and_a_worker_both_work() -> None:
    results = run_everywhere(slow_square, [(i, 0.05) for i in range(120)], 2, chunk_size=4)
    processes = {pid for _, pid in results}
    assert os.getpid() in processes and len(processes) == 2


def test_a_worker_that_dies_leaves_its_work_to_this_process() -> None:
    with pytest.warns(UserWarning, match="worker process stopped"):
        results = run_everywhere(die_in_a_worker, [(i, os.getpid()) for i in range(400)], 2, chunk_size=1)
    assert results == list(range(400))


@pytest.mark.parametrize("bad", [0, 39])  # the workers' end of the queue and this process's
def test_an_error_a_task_raises_is_raised_here(bad: int) -> None:
    with pytest.raises(ValueError, match=f"task {bad} is bad"):
        run_everywhere(fail_on, [(i, bad) for i in range(40)], 2, chunk_size=2)
