"""What a batch will do: the clips its inputs name, where each one's outputs go, and which are done.

An INPUT is a clip, a folder (searched recursively for video files, or for `--pattern`), or a text
file listing clips, one per line (a # at the start or after a space starts a comment; relative
paths are from the list's folder).
A clip found in a folder keeps its place below that folder in OUTDIR, so two clips called
`take1.mp4` in different folders do not collide; a clip named directly goes to OUTDIR itself (a
second of the same name gets its parent folder's name in front).

A clip is done when every output it asks for exists under its final name. Every output is
written under a temporary name and renamed when complete, so existing means complete. A run that
was interrupted leaves temporary files behind; `clean_partials` removes them before the next one.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from score_av.errors import ScoreAVError
from score_av.footage import CLIP_SUFFIXES

LIST_SUFFIXES = (".txt", ".list")


class BatchInputError(ScoreAVError):
    """An INPUT that names nothing to score."""


@dataclass(frozen=True)
class Job:
    clip: Path          # absolute
    out: Path           # the scored clip, OUTDIR/.../NAME.scored.mp4
    midi: Path | None = None
    wav: Path | None = None
    report: Path | None = None

    @property
    def outputs(self) -> list[Path]:
        return [p for p in (self.out, self.midi, self.wav, self.report) if p is not None]

    def done(self) -> bool:
        return all(p.is_file() and p.stat().st_size > 0 for p in self.outputs)


def _in_folder(folder: Path, pattern: str | None) -> list[Path]:
    found = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    if pattern:
        return sorted(p for p in found if fnmatch.fnmatch(p.name, pattern) or fnmatch.fnmatch(str(p.relative_to(folder)), pattern))
    return sorted(p for p in found if p.suffix.lower() in CLIP_SUFFIXES)


def _listed(path: Path) -> list[Path]:
    out = []
    for line in path.read_text().splitlines():
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()  # a comment: # at the start or after a space
        if line:
            clip = Path(line).expanduser()
            out.append(clip if clip.is_absolute() else path.parent / clip)
    return out


def find_clips(inputs: list[Path], pattern: str | None = None) -> list[tuple[Path, Path | None]]:
    """(clip, the folder it was found in or None), in the order given, each clip once."""
    found: list[tuple[Path, Path | None]] = []
    for given in inputs:
        path = Path(given).expanduser()
        if path.is_dir():
            clips = _in_folder(path, pattern)
            if not clips:
                what = f"files matching {pattern!r}" if pattern else f"video files ({' '.join(CLIP_SUFFIXES)})"
                raise BatchInputError(f"{path}: no {what} in this folder or below")
            found += [(c, path) for c in clips]
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            found += [(c, None) for c in _listed(path)]
        elif path.exists() or path.suffix.lower() in CLIP_SUFFIXES:
            found.append((path, None))  # a missing clip is reported as that clip's failure
        else:
            raise BatchInputError(f"{path}: no such clip, folder or list")
    seen, unique = set(), []
    for clip, folder in found:
        key = clip.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((clip, folder))
    return unique


def plan_jobs(inputs: list[Path], outdir: Path, pattern: str | None = None, midi: bool = False,
              wav: bool = False, report: bool = False) -> list[Job]:
    """One job per clip the inputs name, with its outputs under `outdir` (see the module docstring)."""
    jobs, taken = [], set()
    for clip, folder in find_clips(inputs, pattern):
        rel = clip.relative_to(folder).parent if folder is not None else Path()
        stem = clip.stem
        if folder is None and (rel / stem) in taken:
            stem = f"{clip.parent.name}-{stem}"
        n = 1
        base = stem
        while (rel / stem) in taken:
            n += 1
            stem = f"{base}-{n}"
        taken.add(rel / stem)
        where = outdir / rel
        jobs.append(Job(clip.resolve() if clip.exists() else clip.absolute(), where / f"{stem}.scored.mp4",
                        where / f"{stem}.mid" if midi else None, where / f"{stem}.wav" if wav else None,
                        where / f"{stem}.png" if report else None))
    return jobs


def longest_first(jobs: list[Job]) -> list[Job]:
    """The jobs in the order to hand them out: the largest file first (its size stands for its
    length, known without opening it). The short clips then fill the gaps at the end, instead of a
    long clip started last keeping one worker busy while the others have nothing left to do.
    Equal sizes keep their order; a missing file goes last (it fails at once)."""
    def size(job: Job) -> int:
        try:
            return job.clip.stat().st_size
        except OSError:
            return -1

    return sorted(jobs, key=size, reverse=True)


def clean_partials(jobs: list[Job]) -> int:
    """Remove what interrupted runs left under temporary names beside the jobs' outputs; how many."""
    removed = 0
    for job in jobs:
        for out in job.outputs:
            if not out.parent.is_dir():
                continue
            for stale in (out.with_name(f".{out.name}.partial"), out.with_name(out.name + ".tmp"),
                          *out.parent.glob(f".{out.name}.*.tmp")):
                if stale.is_file():
                    stale.unlink()
                    removed += 1
    return removed
