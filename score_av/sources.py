"""Video files as the pipeline reads them: PyAV demuxing and decoding, the real timestamps, and
every foreseeable failure (no file, not a video, no frames, damaged) as one clear SourceError.

Frames are decoded with FFmpeg's own threads (`set_decode_threads`); the decoder skips the frames
the analysis does not need, and only the frames it keeps are scaled (by swscale, straight to the model's size), so
reading a clip for scoring costs less than decoding all of it.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import ScoreAVError


NOT_VIDEO = {"tty", "image2", "lavfi"}  # formats FFmpeg opens that are not clips (text as ANSI art, ...)
_decode_threads = 0  # threads FFmpeg may decode a clip with; 0: as many as it likes (set_decode_threads)


def set_decode_threads(threads: int) -> None:
    """How many threads FFmpeg decodes each clip with, in this process, from now on; 0 (the default)
    lets it choose (frame and slice threads, about one per core). A batch worker sets 1: it is one
    core's worth of work beside other workers, and decoding threads would only contend for the
    cores they hold. The frames are the same whatever the count."""
    global _decode_threads
    _decode_threads = max(0, int(threads))


def use_decode_threads(stream) -> None:
    """Give a PyAV video stream's decoder the threads `set_decode_threads` allows (before decoding)."""
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = _decode_threads


class SourceError(ScoreAVError):
    """The input clip cannot be read as a video."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a clip, before any frame is decoded."""
    path: Path
    format: str          # container, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm"
    codec: str           # video codec, e.g. "h264"
    width: int
    height: int
    fps: float           # average frame rate (variable-rate clips: the mean)
    start: float         # seconds of the first frame's timestamp
    duration: float      # seconds the container declares (0.0 when it does not say)
    frames: int          # frame count the container declares (0 when it does not say)
    has_audio: bool
    audio_codec: str | None


def _open(path: Path):
    import av

    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a folder, not a video file")
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: the file is empty")
    cut = _box_cut_short(path)
    if cut:
        where = {"moov": "inside its index (the MP4 'moov' box)",
                 "mdat": "inside its picture and sound (the 'mdat' box)"}
        raise SourceError(f"{path}: the file is truncated: it ends {where.get(cut, f'inside its {cut!r} box')}; "
                          f"re-download or re-encode it")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.EOFError:
        raise SourceError(f"{path}: the file ends before any video frame: it is truncated or empty") from None
    except av.FFmpegError as exc:
        raise SourceError(f"{path}: FFmpeg cannot read it ({_reason(exc)}): not a video file, "
                          f"or a damaged or truncated one") from None
    fmt = container.format.name
    video = container.streams.video
    if video and video[0].codec_context is None:
        container.close()
        raise SourceError(f"{path}: FFmpeg finds a video stream but cannot tell how it is encoded: the file is "
                          f"damaged; re-encode or re-download it")
    if fmt in NOT_VIDEO or fmt.endswith("_pipe") or not video:
        container.close()
        what = {"tty": "a text file"}.get(fmt, "a still image" if fmt.endswith("_pipe") or fmt == "image2"
                                          else "an audio file, or a video with no frames")
        raise SourceError(f"{path}: has no video: FFmpeg reads it as {what}")
    return container


def _box_cut_short(path: Path) -> str | None:
    """For an MP4/MOV file (one that opens with an 'ftyp' box), the type of the top-level box that
    claims more bytes than the file has: a download or copy cut short. None otherwise. FFmpeg reads
    such a file as far as it can: with the index written last it may see no video, a video stream
    without its codec, or fewer frames than there are."""
    size, at = path.stat().st_size, 0
    with open(path, "rb") as f:
        if f.read(8)[4:] != b"ftyp":
            return None
        while at + 8 <= size:
            f.seek(at)
            head = f.read(16)
            length, kind = int.from_bytes(head[:4], "big"), head[4:8].decode("latin-1")
            if length == 1 and len(head) == 16:  # a 64-bit size follows the type
                length = int.from_bytes(head[8:16], "big")
            if length < 8:  # 0 runs to the end of the file; less than a header is not a box
                return None
            if at + length > size:
                return kind
            at += length
    return None


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[-1].strip() if ":" in text else text


def _declared_duration(container, stream) -> float:
    """Seconds of video the container says it holds: the stream's, else the file's, else 0."""
    if stream.duration is not None:
        return float(stream.duration * stream.time_base)
    return (container.duration or 0) / 1_000_000


def probe(path: str | os.PathLike) -> VideoInfo:
    """The clip's container facts; raises SourceError if it is not a readable video."""
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        cc = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        duration = _declared_duration(container, stream)
        audio = container.streams.audio
        return VideoInfo(path=path, format=container.format.name, codec=cc.name,
                         width=cc.width, height=cc.height, fps=float(rate) if rate else 0.0,
                         start=start, duration=duration, frames=stream.frames or 0,
                         has_audio=bool(audio), audio_codec=audio[0].codec_context.name if audio else None)
    finally:
        container.close()


@dataclass
class FrameTimes:
    """When each decoded frame is shown, and when the picture ends (the last frame's end)."""
    first: float = math.nan
    end: float = math.nan
    count: int = 0


SKIP_LEVELS = ("BIDIR", "NONREF", "DEFAULT")  # what the decoder may leave out, most first
MIN_RATE_SHARE = 0.9   # skipping must still give the analysis this share of the frames it asked for


def skip_policy(source_fps: float, fps: float | None) -> str:
    """Which frames the decoder may leave out at first when the analysis wants only `fps` a second:
    all B-frames when the clip has at least twice that rate, else those no other frame refers to
    when it has more, else none. Nothing else in the clip depends on a skipped frame, so skipping
    makes reading cheaper than decoding every frame while the timestamps still come from every
    packet. How many frames are left depends on how the clip was encoded, so `SkipGuard` watches
    the rate the analysis really gets and skips less when it falls short."""
    if not fps or not source_fps:
        return "DEFAULT"
    if source_fps >= 2 * fps:
        return "BIDIR"
    return "NONREF" if source_fps > 1.2 * fps else "DEFAULT"


class SkipGuard:
    """Keeps skipping honest: over every stretch of at least WINDOW seconds (and 8 analysis
    steps), the frames kept must reach MIN_RATE_SHARE of `fps`; when they do not, the decoder is
    told to skip less (BIDIR -> NONREF -> DEFAULT), from that frame on. Decided from timestamps
    alone, so the same clip always gives the same frames."""
    WINDOW = 2.0

    def __init__(self, codec_context, policy: str, fps: float | None):
        self.codec_context, self.level, self.fps = codec_context, SKIP_LEVELS.index(policy), fps
        codec_context.skip_frame = policy
        self.since, self.kept = None, 0

    def kept_frame(self, t: float) -> None:
        if not self.fps or self.level == len(SKIP_LEVELS) - 1:
            return
        if self.since is None:
            self.since = t
        self.kept += 1
        span = t - self.since
        if span >= max(self.WINDOW, 8 / self.fps):
            if self.kept - 1 < MIN_RATE_SHARE * self.fps * span:
                self.level += 1
                self.codec_context.skip_frame = SKIP_LEVELS[self.level]
            self.since, self.kept = t, 1


def iter_frames(path: str | os.PathLike, size: int | tuple[int, int] | None = None, fps: float | None = None,
                times: FrameTimes | None = None,
                on_frame: Callable[[float], None] | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (seconds, RGB uint8 frame of `size`) for the frames of the clip, in display order.

    `size` is an int (square, the whole frame squashed: the video model's `image_size`), (width,
    height), or None for the clip's own size. With `fps`, frames are analysed on a grid of that
    rate (at least 90% of it over every few seconds, where the clip has the frames), and the
    decoder skips frames it does not need (`skip_policy`, `SkipGuard`);
    without, every frame is decoded and yielded. `times`, when given, is filled in from every
    packet: the first timestamp, the end of the picture, the number of frames; `on_frame(seconds)`
    is called for every packet (progress). Raises SourceError for a clip with no frames or a
    damaged one.
    """
    import av
    from av.video.reformatter import VideoReformatter

    path = Path(path)
    width, height = (size, size) if isinstance(size, int) else size if size is not None else (None, None)
    times = times if times is not None else FrameTimes()
    container = _open(path)
    try:
        stream = container.streams.video[0]
        use_decode_threads(stream)
        tb = stream.time_base
        rate = stream.average_rate or stream.guessed_rate
        guard = SkipGuard(stream.codec_context, skip_policy(float(rate) if rate else 0.0, fps), fps)
        nominal = 1.0 / float(rate) if rate else 0.04
        declared = _declared_duration(container, stream)
        step = 1.0 / fps if fps else 0.0
        next_kept = -math.inf
        previous = None
        first, end = math.inf, -math.inf
        # one scaler for the clip: a frame's own reformat() sets up a new one (its filters for this
        # size and interpolation) for every frame, 2 to 3 ms a 720p frame, ten times the scaling itself
        scaler = VideoReformatter()
        try:
            for packet in container.demux(stream):
                if packet.size and packet.pts is not None:
                    t = float(packet.pts * tb)
                    first = min(first, t)
                    end = max(end, t + (float(packet.duration * tb) if packet.duration else nominal))
                    times.first, times.end, times.count = first, end, times.count + 1
                    if on_frame is not None:
                        on_frame(t)
                for frame in packet.decode():  # the empty packet at the end flushes the decoder
                    if frame.pts is None:
                        continue
                    t = float(frame.pts * tb)
                    if previous is not None and t <= previous:
                        continue  # a repeated or out-of-order timestamp: keep the first
                    previous = t
                    if t + 1e-9 >= next_kept:
                        # the next wanted time, on the grid unless the clip skipped past it
                        next_kept = (next_kept if t - next_kept < step else t) + step
                        guard.kept_frame(t)
                        rgb = scaler.reformat(frame, width=width, height=height, format="rgb24",
                                              interpolation="AREA").to_ndarray()
                        yield t, rgb
        except av.FFmpegError as exc:
            at = f" at {times.end - times.first:.2f} s" if times.count else ""
            raise SourceError(f"{path}: the video is damaged{at} ({_reason(exc)}); "
                              f"re-encode or re-download it") from None
        if times.count == 0 or previous is None:
            raise SourceError(f"{path}: the video stream has no frames")
        shown = times.end - times.first
        if declared > 2.0 and shown < 0.9 * declared - 1.0:
            raise SourceError(f"{path}: the video stops at {shown:.1f} s of the {declared:.1f} s its "
                              f"container declares: the file is truncated or damaged")
    finally:
        container.close()


def clip_frames(path: str | os.PathLike, size: int | tuple[int, int] | None = None, fps: float | None = None,
                times: FrameTimes | None = None,
                on_frame: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All (analysed) frames of a clip at once: (seconds (n,), RGB uint8 (n, height, width, 3));
    `times` and `on_frame` as in `iter_frames`."""
    stamps, frames = [], []
    for t, frame in iter_frames(path, size, fps, times=times, on_frame=on_frame):
        stamps.append(t)
        frames.append(frame)
    return np.asarray(stamps, dtype=np.float64), np.stack(frames)


def thumbnails(path: str | os.PathLike, at: list[float], height: int = 90) -> list[np.ndarray]:
    """RGB frames shown at the given seconds (the first frame at or after each), `height` pixels
    high with the clip's aspect ratio; for pictures of a clip, not for analysis."""
    info = probe(path)
    width = max(2, int(round(height * info.width / max(info.height, 1))))
    wanted = sorted(at)
    out: list[np.ndarray] = []
    last = None
    for t, frame in iter_frames(path, (width, height), fps=4.0):  # within a quarter second is near enough
        last = frame
        while wanted and t + 1e-6 >= wanted[0]:
            out.append(frame)
            wanted.pop(0)
        if not wanted:
            break
    out.extend(last for _ in wanted)  # times past the last frame show the last frame
    return out

