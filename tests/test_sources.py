"""Reading clips: real timestamps and frame rates, every kind of clip, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import write_clip_without_frames
from score_av.sources import FrameTimes, SourceError, clip_frames, iter_frames, probe, set_decode_threads


@pytest.mark.parametrize("kind", ["mp4", "mkv", "avi", "odd", "audio"])
def test_probe_and_frames_of_common_clips(clips, kind):
    info = probe(clips[kind])
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == ((157, 119) if kind == "odd" else (160, 120))
    assert info.has_audio == (kind == "audio")
    times, frames = clip_frames(clips[kind], 64)
    assert frames.shape == (75, 64, 64, 3) and frames.dtype == np.uint8
    assert np.allclose(np.diff(times), 0.04, atol=1e-3)


def test_variable_frame_rate_keeps_the_real_timestamps(clips):
    wanted = np.cumsum(np.random.default_rng(1).uniform(0.02, 0.08, 75))  # as the fixture wrote them
    times, _ = clip_frames(clips["vfr"])
    assert np.allclose(times, np.round(wanted, 3), atol=1e-6)


def test_the_analysis_rate_thins_frames_but_every_frame_is_timed(clips):
    span = FrameTimes()
    kept = [t for t, _ in iter_frames(clips["mp4"], 32, fps=5, times=span)]
    assert span.count == 75 and span.first == 0.0 and span.end == pytest.approx(3.0)
    # at most one frame in each 0.2 s of the grid; the decoder may skip frames nothing refers to,
    # so the kept ones are near, not on, the grid lines
    cells = np.floor(np.asarray(kept) / 0.2 + 1e-9)
    assert 12 <= len(kept) <= 15 and len(np.unique(cells)) == len(kept)


def test_frames_show_the_picture(clips):
    _, frames = clip_frames(clips["mp4"], 64)
    # the bright square crosses from left to right
    left, right = frames[0][:, :32].mean(), frames[0][:, 32:].mean()
    left_end, right_end = frames[-1][:, :32].mean(), frames[-1][:, 32:].mean()
    assert left - right > left_end - right_end


def test_one_decoding_thread_gives_the_same_frames_as_many(clips):
    """A batch worker decodes on one thread: its frames, and so its music, are render's."""
    many = clip_frames(clips["mp4"], 64, fps=10)
    set_decode_threads(1)
    try:
        one = clip_frames(clips["mp4"], 64, fps=10)
    finally:
        set_decode_threads(0)
    assert np.array_equal(many[0], one[0]) and np.array_equal(many[1], one[1])


def _truncate(path, out):
    data = path.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


def _cut_in_index(path, out, share: float):
    """The clip cut inside its index (the MP4 'moov' box, written last), `share` of the way into it."""
    data = path.read_bytes()
    start = data.index(b"moov") - 4
    out.write_bytes(data[: start + int(share * int.from_bytes(data[start:start + 4], "big"))])
    return out


def _write(out, data: bytes):
    out.write_bytes(data)
    return out


@pytest.mark.parametrize("make, words", [
    (lambda d, c: d / "missing.mp4", "no such file"),
    (lambda d, c: d, "folder"),
    (lambda d, c: _write(d / "empty.mp4", b""), "empty"),
    (lambda d, c: _write(d / "notes.txt", b"not a video\n" * 50), "text file"),
    (lambda d, c: _truncate(c["mkv"], d / "cut.mkv"), "truncated"),
    (lambda d, c: _truncate(c["mp4"], d / "cut.mp4"), "truncated"),
    (lambda d, c: _cut_in_index(c["mp4"], d / "cut-index.mp4", 0.05), "truncated: it ends inside its index"),
    (lambda d, c: _cut_in_index(c["mp4"], d / "cut-index.mp4", 0.4), "truncated: it ends inside its index"),
    (lambda d, c: _cut_in_index(c["mp4"], d / "cut-index.mp4", 0.95), "truncated: it ends inside its index"),
    (lambda d, c: write_clip_without_frames(d / "none.mkv"), "truncated or empty"),
    (lambda d, c: write_clip_without_frames(d / "none.mp4"), "no frames"),
])
def test_bad_input_gives_one_clear_line(tmp_path, clips, make, words):
    path = make(tmp_path, clips)
    with pytest.raises(SourceError) as err:
        clip_frames(path)
    message = str(err.value)
    assert words in message and str(path) in message and "\n" not in message
