"""OUTDIR/batch.json: what a batch did with each clip, kept up to date as clips finish.

One record per clip, keyed by the clip's absolute path: status (done, failed), the outputs,
seconds of video, wall time, the worker, the error when it failed, and when. It is rewritten
atomically after every clip, so an interrupted batch leaves a manifest that is true of every clip
that finished, and the next run reads it to say what it skipped.
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

from modelkit import atomic_write_json

NAME = "batch.json"


class Manifest:
    def __init__(self, outdir: Path):
        self.path = Path(outdir) / NAME
        self.clips: dict[str, dict] = {}
        self.runs: list[dict] = []
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                self.clips, self.runs = data.get("clips", {}), data.get("runs", [])
            except (json.JSONDecodeError, AttributeError):
                self.path.rename(self.path.with_suffix(".json.unreadable"))  # keep it for a person to look at

    def record(self, record: dict) -> None:
        record = {**record, "finished": _now()}
        self.clips[record["clip"]] = record
        self.save()

    def start_run(self, info: dict) -> None:
        self.runs.append({"started": _now(), **info})
        self.save()

    def end_run(self, summary: dict) -> None:
        self.runs[-1].update(ended=_now(), **summary)
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, {"clips": self.clips, "runs": self.runs})


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
