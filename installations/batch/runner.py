"""`score-av batch` as a library call: plan the jobs, skip what is done, score the rest on a backend,
keep the manifest, and say how it went.

The backend is an object with `run(jobs, options)` yielding one record per clip as each finishes
(local.py: a process pool on this machine; ray_backend.py: Ray tasks). Whatever the backend, the
music of a clip depends only on the clip and the options (render_clip is deterministic, and every
worker, on either backend, runs torch on one thread), so a batch gives the same music on either
backend with the same `--seed`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from score_av.render import RenderOptions

from .local import LocalBackend
from .manifest import Manifest
from .plan import Job, clean_partials, longest_first, plan_jobs


@dataclass
class BatchSummary:
    outdir: Path
    scored: int = 0
    failed: int = 0
    skipped: int = 0            # done before
    failed_before: int = 0      # failed in an earlier run, unchanged since: not tried again
    seconds_of_video: float = 0.0
    wall_seconds: float = 0.0
    partials_removed: int = 0
    failures: list[dict] = field(default_factory=list)

    @property
    def video_seconds_per_second(self) -> float:
        return self.seconds_of_video / self.wall_seconds if self.wall_seconds else 0.0


def make_backend(name: str, workers: int | None = None, ray_address: str | None = None):
    if name == "local":
        return LocalBackend(workers)
    if name == "ray":
        from .ray_backend import RayBackend

        return RayBackend(workers, ray_address)
    raise ValueError(f"unknown backend {name!r}: local or ray")


def run_batch(inputs: list[Path], outdir: Path, options: RenderOptions = RenderOptions(), workers: int | None = None,
              backend: str = "local", ray_address: str | None = None, pattern: str | None = None,
              overwrite: bool = False, midi: bool = False, wav: bool = False, report: bool = False,
              progress: bool = True) -> BatchSummary:
    """Score every clip the inputs name into `outdir`; see the module docstring."""
    options.check()
    outdir = Path(outdir)
    jobs = plan_jobs(inputs, outdir, pattern, midi, wav, report)
    outdir.mkdir(parents=True, exist_ok=True)
    summary = BatchSummary(outdir, partials_removed=clean_partials(jobs))
    manifest = Manifest(outdir)
    done = set() if overwrite else {j for j in jobs if j.done()}
    stale = set() if overwrite else {j for j in jobs if j not in done and _failed_before(j, manifest)}
    todo = longest_first([j for j in jobs if j not in done and j not in stale])
    summary.skipped, summary.failed_before = len(done), len(stale)
    summary.failures += [manifest.clips[str(j.clip)] for j in jobs if j in stale]
    by_clip = {str(j.clip): j for j in todo}
    manifest.start_run({"backend": backend, "workers": workers, "clips": len(jobs), "to_score": len(todo),
                        "overwrite": overwrite})
    started = time.time()
    bar = _progress(len(todo)) if progress and todo else None
    try:
        if todo:
            for record in make_backend(backend, workers, ray_address).run(todo, options):
                manifest.record({**record, "input": fingerprint(by_clip[record["clip"]].clip)})
                if record["status"] == "done":
                    summary.scored += 1
                    summary.seconds_of_video += record.get("duration") or 0.0
                else:
                    summary.failed += 1
                    summary.failures.append(record)
                summary.wall_seconds = time.time() - started
                if bar is not None:
                    bar.set_postfix_str(f"{summary.video_seconds_per_second:.2f} s of video/s, {summary.failed} failed")
                    bar.update(1)
    finally:
        summary.wall_seconds = time.time() - started
        if bar is not None:
            bar.close()
        manifest.end_run({"scored": summary.scored, "failed": summary.failed, "skipped": summary.skipped,
                          "failed_before": summary.failed_before,
                          "seconds_of_video": round(summary.seconds_of_video, 2),
                          "wall_seconds": round(summary.wall_seconds, 2)})
    return summary


def fingerprint(clip: Path) -> list[int] | None:
    """The input as the manifest knows it: size and modification time (None: missing)."""
    try:
        st = clip.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _failed_before(job: Job, manifest: Manifest) -> bool:
    """The clip failed in an earlier run and has not changed since: a rerun would fail the same way
    (unless its worker died: that is retried)."""
    record = manifest.clips.get(str(job.clip))
    return bool(record and record["status"] == "failed" and not record.get("retry")
                and record.get("input") == fingerprint(job.clip))


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="clip", desc="scoring", dynamic_ncols=True)


__all__ = ["BatchSummary", "Job", "run_batch", "make_backend"]
