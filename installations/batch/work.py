"""One clip scored inside a worker process: the same `render_clip` as `score-av render`.

A worker loads the models once (the first clip it is given, or its initializer) and keeps them for
every clip after; a clip that fails is a record with the reason, never an exception that would
cost the other clips. Both backends (local.py, ray_backend.py) call `score_job`.
"""
from __future__ import annotations

import os
import time
from dataclasses import replace

from modelkit import UserError
from score_av.models import Models
from score_av.render import RenderOptions, render_clip
from score_av.sources import set_decode_threads

from .plan import Job

_models: dict[tuple[str, str], Models] = {}


def prepare(options: RenderOptions, threads: int) -> None:
    """Set this process's OpenCV and decoding threads and load its models (once): a worker keeps to its
    share of the cores (OpenCV's default takes them all, in bursts, when `--presence` counts people).
    torch keeps to one thread in every render (render_clip)."""
    import cv2

    cv2.setNumThreads(max(1, threads))
    set_decode_threads(threads)
    models_for(options)


def models_for(options: RenderOptions) -> Models:
    key = (options.model, options.video_model)
    if key not in _models:
        _models[key] = Models.load(options.model, options.video_model, "cpu")
    return _models[key]


def score_job(job: Job, options: RenderOptions) -> dict:
    """Score one clip; the manifest's record of it (status done or failed, with the reason)."""
    started = time.time()
    record = {"clip": str(job.clip), "output": str(job.out), "worker": os.getpid()}
    try:
        for out in job.outputs:
            out.parent.mkdir(parents=True, exist_ok=True)
        result = render_clip(job.clip, job.out, replace(options, midi=job.midi, wav=job.wav, report=job.report),
                             models=models_for(options))
        record.update(status="done", extras=[str(p) for p in result.written[1:]],
                      duration=round(result.score.timeline.duration, 3), notes=result.notes)
    except UserError as exc:  # the clip's own problem: corrupt, empty, not a video, no frames
        record.update(status="failed", error=str(exc))
    except Exception as exc:  # anything else is reported as a failure of this clip too
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    record["wall_seconds"] = round(time.time() - started, 2)
    return record
