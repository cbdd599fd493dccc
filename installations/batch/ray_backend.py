"""The Ray backend: the same work as Ray tasks, on this machine or a cluster (`pip install score-av[ray]`).

Each clip is one task of one CPU. Inputs are read and outputs written by path, so on a cluster
they must be on storage every node sees (NFS, a shared volume), as the docs say. A Ray worker
process keeps the models it loaded (work.py) for every task it runs after, as a local worker does.
With no address, `ray.init()` starts Ray on this machine with `workers` CPUs; with one (`--ray-address
HOST:PORT`, or "auto"), it joins that cluster and uses what it has.
"""
from __future__ import annotations

from typing import Iterator

from score_av.errors import ScoreAVError
from score_av.render import RenderOptions

from .plan import Job


class RayMissing(ScoreAVError):
    """Ray is an optional extra."""


class RayUnavailable(ScoreAVError):
    """The cluster asked for cannot be reached, or Ray cannot start here."""


def _reachable(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT that does not answer is said at once (Ray itself retries for many minutes)."""
    import socket

    if address in ("auto", "local") or address.startswith("ray://") or ":" not in address:
        return
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise RayUnavailable(f"--ray-address {address}: nothing answers there ({exc}); is `ray start --head` "
                             f"running on that host and port?") from None


def _ray():
    try:
        import ray
    except ImportError:
        raise RayMissing("the ray backend needs Ray: pip install 'score-av[ray]'") from None
    return ray


class RayBackend:
    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None):
        self.ray = _ray()
        self.workers, self.address = workers, address
        self._started_here = False

    def _connect(self) -> None:
        if self.ray.is_initialized():
            return
        kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            if self.address:
                _reachable(self.address)
                self.ray.init(address=self.address, **kwargs)
            else:  # "local": a Ray of our own here, even where RAY_ADDRESS or a running cluster is set
                self.ray.init(address="local", num_cpus=self.workers, **kwargs)
        except ScoreAVError:
            raise
        except Exception as exc:
            raise RayUnavailable(f"Ray could not start or connect ({type(exc).__name__}: {exc}); for a cluster "
                                 f"that asks for a token, set RAY_AUTH_MODE=token as its nodes do") from None
        self._started_here = True

    def run(self, jobs: list[Job], options: RenderOptions) -> Iterator[dict]:
        self._connect()
        task = self.ray.remote(num_cpus=1, max_retries=0)(_score_on_ray)
        pending = {task.remote(job, options): job for job in jobs}
        try:
            while pending:
                ready, _ = self.ray.wait(list(pending), num_returns=1)
                job = pending.pop(ready[0])
                try:
                    yield self.ray.get(ready[0])
                except Exception as exc:  # the task's process died, or Ray lost the node
                    yield {"clip": str(job.clip), "output": str(job.out), "status": "failed", "wall_seconds": None,
                           "retry": True,
                           "error": f"the Ray task scoring it failed: {type(exc).__name__}: {exc}"}
        finally:
            for ref in pending:
                self.ray.cancel(ref, force=True)
            self.close()

    def close(self) -> None:
        if self._started_here and self.ray.is_initialized():
            self.ray.shutdown()
            self._started_here = False


def _score_on_ray(job: Job, options: RenderOptions) -> dict:
    from installations.batch.work import prepare, score_job

    prepare(options, threads=1)  # one CPU per task; loads the models once per Ray worker process
    return score_job(job, options)
