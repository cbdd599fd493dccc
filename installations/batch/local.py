"""The local backend: N worker processes on this machine, each loading the models once.

Not a `ProcessPoolExecutor`: when one of its workers dies (a decoder crashing on a strange file,
the out-of-memory killer), the executor fails every clip still queued. Here each worker says which
clip it starts, so a death costs exactly that clip (recorded as failed, with the reason) and a
fresh worker takes the dead one's place. Workers are forked where the system can (Linux): they
start with the modules already imported, so a worker is scoring a second or two after it starts
instead of re-importing torch (spawned elsewhere). The batch process has run no torch work and
started no thread pool before it forks, so nothing is inherited half-done. A worker is one core's worth of work: torch runs on one thread in
each, so `--workers N` means N cores (the default: all of them), and the music is computed the
same way whatever N is.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
from typing import Iterator

from score_av.render import RenderOptions

from .plan import Job
from .work import prepare, score_job

POLL = 0.5  # seconds between looks at the workers' health while waiting for results


def _worker(tasks, results, options: RenderOptions, threads: int) -> None:
    parent = mp.parent_process()  # a batch killed outright (SIGKILL, the OOM killer) takes its workers with it
    threading.Thread(target=lambda: (parent.join(), os._exit(1)), daemon=True).start()
    try:
        prepare(options, threads)
    except BaseException as exc:  # the models cannot load: every clip would fail the same way
        results.put(("broken", os.getpid(), None, f"{type(exc).__name__}: {exc}"))
        return
    while (item := tasks.get()) is not None:
        index, job = item
        results.put(("start", os.getpid(), index, None))
        results.put(("done", os.getpid(), index, score_job(job, options)))


class LocalBackend:
    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self._procs: dict[int, mp.Process] = {}

    def _spawn(self, tasks, results, options: RenderOptions) -> None:
        proc = self._context.Process(target=_worker, args=(tasks, results, options, 1), daemon=True)
        proc.start()
        self._procs[proc.pid] = proc

    def run(self, jobs: list[Job], options: RenderOptions) -> Iterator[dict]:
        """A record per job as each finishes (in the order they finish)."""
        tasks, results = self._context.Queue(), self._context.Queue()
        for item in enumerate(jobs):
            tasks.put(item)
        for _ in range(self.workers):
            tasks.put(None)
        for _ in range(min(self.workers, len(jobs))):
            self._spawn(tasks, results, options)
        current: dict[int, int] = {}   # worker pid -> index of the job it is scoring
        left = set(range(len(jobs)))
        try:
            while left:
                try:
                    kind, pid, index, payload = results.get(timeout=POLL)
                except queue.Empty:
                    yield from self._dead(current, left, jobs, tasks, results, options)
                    continue
                if kind == "start":
                    current[pid] = index
                elif kind == "done":
                    current.pop(pid, None)
                    left.discard(index)
                    yield payload
                elif kind == "broken":
                    raise RuntimeError(f"a worker could not start: {payload}")
        finally:
            self.close()
            for q in (tasks, results):  # jobs never handed out must not hold up the exit
                q.cancel_join_thread()
                q.close()

    def _dead(self, current, left, jobs, tasks, results, options) -> Iterator[dict]:
        for pid, proc in list(self._procs.items()):
            if proc.is_alive() or proc.exitcode == 0:  # 0: it ran out of work; its results are queued
                continue
            del self._procs[pid]
            index = current.pop(pid, None)
            if index is not None and index in left:
                left.discard(index)
                yield {"clip": str(jobs[index].clip), "output": str(jobs[index].out), "worker": pid,
                       "status": "failed", "wall_seconds": None, "retry": True,
                       "error": f"the worker scoring it died (exit code {proc.exitcode}): a crash in a "
                                f"decoder or the memory limit; the other clips went on"}
            if left and len(self._procs) < min(self.workers, len(left)):
                self._spawn(tasks, results, options)  # takes the sentinel the dead one never read

    def close(self) -> None:
        """Stop every worker (an interrupted batch: the clips in flight are lost, nothing else)."""
        for proc in self._procs.values():
            if proc.is_alive():
                proc.terminate()
        for proc in self._procs.values():
            proc.join(timeout=5)
        self._procs.clear()
