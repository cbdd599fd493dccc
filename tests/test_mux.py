"""The scored clip: video packets as they were, the music as long as the picture, nothing
half-written."""
from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

from score_av.mux import MuxError, mux, plan_output
from score_av.sources import FrameTimes, iter_frames, probe

RATE = 44100


def _picture_span(path: Path) -> tuple[float, float]:
    span = FrameTimes()
    for _ in iter_frames(path, 16, fps=1, times=span):
        pass
    return span.first, span.end


def _score(clip: Path, out: Path | None = None, keep_audio: bool = False) -> Path:
    """Mux a recognisable soundtrack (a 220 Hz tone) exactly as long as the picture."""
    info = probe(clip)
    first, end = _picture_span(clip)
    n = int(round((end - first) * RATE))
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / RATE)).astype(np.float32)
    plan = plan_output(info, out)
    return mux(info, np.stack([tone, tone], 1), RATE, plan, start=first, keep_audio=keep_audio)


def _video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def _audio_span(path: Path, index: int = 0) -> tuple[float, float]:
    with av.open(str(path)) as c:
        frames = list(c.decode(c.streams.audio[index]))
    return float(frames[0].time), float(frames[-1].time) + frames[-1].samples / frames[-1].sample_rate


@pytest.mark.parametrize("kind", ["mp4", "mkv", "vfr", "odd", "audio"])
def test_video_packets_are_copied_and_the_music_lasts_as_long_as_the_picture(clips, tmp_path, kind):
    out = _score(clips[kind], tmp_path / f"{kind}.scored.mp4")
    assert _video_packets(out) == _video_packets(clips[kind])
    first, end = _picture_span(out)
    a_first, a_end = _audio_span(out)
    frame = 0.08 if kind == "vfr" else 0.04  # the longest frame in the clip
    assert abs(a_first - first) < frame and abs(a_end - end) < frame
    with av.open(str(out)) as c:
        assert [s.codec_context.name for s in c.streams.audio] == ["aac"]  # the original replaced


def test_default_output_sits_beside_the_clip(clips, tmp_path):
    clip = tmp_path / "holiday.mkv"
    clip.write_bytes(clips["mkv"].read_bytes())
    out = _score(clip)
    assert out == tmp_path / "holiday.scored.mp4" and out.is_file()


def test_an_old_avi_codec_is_re_encoded_and_says_so(clips, tmp_path):
    plan = plan_output(probe(clips["avi"]), tmp_path / "old.scored.mp4")
    assert not plan.copy_video and "msmpeg4v2" in plan.note and "H.264" in plan.note
    out = _score(clips["avi"], tmp_path / "old.scored.mp4")
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in c.decode(video=0)) == 75
    first, end = _picture_span(out)
    assert abs(_audio_span(out)[1] - end) < 0.04


def test_keep_audio_keeps_the_original_as_a_second_track(clips, tmp_path):
    out = _score(clips["audio"], tmp_path / "kept.mp4", keep_audio=True)
    tracks = []
    for index in range(2):
        with av.open(str(out)) as c:
            assert len(c.streams.audio) == 2
            tracks.append(np.concatenate([f.to_ndarray()[0] for f in c.decode(c.streams.audio[index])]))
    # the music is the 220 Hz tone, the kept track the clip's own 440 Hz one
    peaks = [np.argmax(np.abs(np.fft.rfft(t[4096:4096 + RATE]))) for t in tracks]
    assert peaks == [220, 440]


def test_unwritable_places_fail_before_writing_anything(clips, tmp_path):
    with pytest.raises(MuxError, match="does not exist"):
        _score(clips["mp4"], tmp_path / "no" / "such" / "out.mp4")
    with pytest.raises(MuxError, match=r"\.webm"):
        plan_output(probe(clips["mp4"]), tmp_path / "out.webm")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: take a folder no one can write in
            with pytest.raises(MuxError, match="could not write"):
                _score(clips["mp4"], Path("/proc/out.mp4"))
        else:
            with pytest.raises(MuxError, match="not writable"):
                _score(clips["mp4"], locked / "out.mp4")
    finally:
        os.chmod(locked, 0o700)
    assert list(locked.iterdir()) == [] and not Path("/proc/out.mp4").exists()
