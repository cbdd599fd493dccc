"""The scored clip: the input's video packets copied as they are, and the music as an AAC track.

Copying packets keeps the picture exactly as it was (no generation loss, no encoding time).
Where the chosen container cannot hold the input's video codec (an old AVI codec into MP4),
`plan_output` picks one that can, or re-encodes the picture to H.264, and says which. Everything
is written under a temporary name and renamed at the end, so no half-written clip is ever left.
"""
from __future__ import annotations

import io
import os
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from modelkit.atomic import unwritable

from .errors import ScoreAVError
from .sources import VideoInfo, use_decode_threads

FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
AUDIO_CODEC, AUDIO_BITRATE = "aac", 128_000
AUDIO_OPTIONS = {"aac_coder": "fast"}  # 3x faster than FFmpeg's default search, plenty for a melody
REENCODE_CODEC = "libx264"


class MuxError(ScoreAVError):
    """The scored clip cannot be written where or how it was asked."""


@lru_cache(maxsize=None)
def _holds(fmt: str) -> frozenset[str]:
    """Codec names the container format can store (FFmpeg's own answer)."""
    import av

    with av.open(io.BytesIO(), "w", format=fmt) as probe:
        return frozenset(probe.supported_codecs)


def container_holds(suffix: str, codec: str) -> bool:
    fmt = FORMATS.get(suffix.lower())
    return fmt is not None and codec in _holds(fmt)


@dataclass(frozen=True)
class OutputPlan:
    path: Path
    format: str             # FFmpeg muxer name
    copy_video: bool        # False: the picture is re-encoded to H.264
    note: str | None = None  # the decision a person should hear about, when there was one


def default_output(clip: Path) -> Path:
    """CLIP.scored.mp4 beside the input (the suffix may change when the plan is made)."""
    return clip.with_name(f"{clip.stem}.scored.mp4")


def plan_output(info: VideoInfo, out: Path | None = None) -> OutputPlan:
    """Where and how to write: copy the video into the asked (or default) container when it can
    hold the codec; with no container asked, try MKV next; otherwise re-encode to H.264."""
    codec = info.codec
    if out is None:
        out = default_output(info.path)
        if not container_holds(".mp4", codec) and container_holds(".mkv", codec):
            mkv = out.with_suffix(".mkv")
            return OutputPlan(mkv, FORMATS[".mkv"], True,
                              f"MP4 cannot hold {codec} video: writing MKV, video copied as it is")
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise MuxError(f"{out}: cannot write a {out.suffix or 'suffix-less'} file; "
                       f"name the output .mp4, .mov or .mkv")
    if container_holds(suffix, codec):
        return OutputPlan(out, FORMATS[suffix], True)
    return OutputPlan(out, FORMATS[suffix], False,
                      f"{suffix[1:].upper()} cannot hold {codec} video: re-encoding the picture to H.264")


def check_writable(path: Path) -> None:
    """Fail before any work if the output cannot be created, with the reason in one line."""
    why = unwritable(path)
    if why:
        raise MuxError(f"{path}: {why}")


class AudioSource(Protocol):
    """Where the soundtrack comes from: `total` samples, read in order (a `synth.SynthStream`)."""
    total: int

    def read(self, n: int) -> np.ndarray:
        """The next min(n, samples left) samples, (m, 2) float32."""


class ArrayAudio:
    """A soundtrack already held whole, (n, 2), read as an `AudioSource`."""

    def __init__(self, audio: np.ndarray):
        self.audio = np.asarray(audio, dtype=np.float32)
        self.total = len(self.audio)
        self.position = 0

    def read(self, n: int) -> np.ndarray:
        chunk = self.audio[self.position:self.position + max(n, 0)]
        self.position += len(chunk)
        return chunk


class ReadAhead:
    """Reads another `AudioSource` in a thread of its own, `chunk` samples at a time, at most `depth`
    chunks ahead: synthesis (FluidSynth, which releases the GIL) overlaps the AAC encoding, and
    memory stays bounded."""

    def __init__(self, source: AudioSource, chunk: int, depth: int = 4):
        self.source, self.total = source, source.total
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._buffer = np.empty((0, 2), np.float32)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(chunk,), name="synthesise", daemon=True)
        self._thread.start()

    def _fill(self, chunk: int) -> None:
        try:
            while not self._stop.is_set():
                block = self.source.read(chunk)
                self._put(block)
                if len(block) == 0:
                    return
        except BaseException as exc:  # handed to the reading thread
            self._put(exc)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, n: int) -> np.ndarray:
        parts, have = [], 0
        while have < n:
            if len(self._buffer) == 0:
                item = self._queue.get()
                if isinstance(item, BaseException):
                    raise item
                if len(item) == 0:
                    self._queue.put(item)  # the end stays the end for the next read
                    break
                self._buffer = item
            take = self._buffer[:n - have]
            self._buffer = self._buffer[len(take):]
            parts.append(take)
            have += len(take)
        if not parts:
            return np.empty((0, 2), np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class AudioWriter:
    """Encodes a soundtrack as AAC in frames, on demand (`write_until`), so it interleaves with the
    video packets; `finish` writes the rest and flushes the encoder. The soundtrack is read from
    an `AudioSource` (or a whole (n, 2) array) only as the encoder needs it. `on_audio(chunk)` sees
    every chunk encoded (the CLI's --wav writes the same samples as they pass)."""

    def __init__(self, container, audio: "AudioSource | np.ndarray", sample_rate: int, start: float,
                 on_audio: Callable[[np.ndarray], None] | None = None):
        import av

        self.av = av
        self.stream = container.add_stream(AUDIO_CODEC, rate=sample_rate, options=AUDIO_OPTIONS)
        self.stream.layout = "stereo"
        self.stream.bit_rate = AUDIO_BITRATE
        self.container = container
        self.source = ArrayAudio(audio) if isinstance(audio, np.ndarray) else audio
        self.on_audio = on_audio
        self.rate = sample_rate
        self.first = int(round(start * sample_rate))
        self.done = 0

    def write_until(self, seconds: float) -> None:
        frame_size = self.stream.codec_context.frame_size or 1024
        total = self.source.total
        until = total if seconds == float("inf") else min(total, max(0, int(seconds * self.rate) - self.first))
        while self.done < until:
            chunk = self.source.read(min(frame_size, total - self.done))
            if len(chunk) == 0:
                raise ValueError(f"the soundtrack ended at sample {self.done} of the {total} it announced")
            if self.on_audio is not None:
                self.on_audio(chunk)
            planar = np.ascontiguousarray(np.asarray(chunk, dtype=np.float32).T)  # (2, n)
            frame = self.av.AudioFrame.from_ndarray(planar, format="fltp", layout="stereo")
            frame.sample_rate = self.rate
            frame.pts = self.first + self.done
            frame.time_base = Fraction(1, self.rate)
            self.container.mux(self.stream.encode(frame))
            self.done += len(chunk)

    def written(self) -> float:
        """Seconds of the soundtrack encoded so far, in the clip's clock."""
        return (self.first + self.done) / self.rate

    def finish(self) -> None:
        self.write_until(float("inf"))
        self.container.mux(self.stream.encode(None))


def mux(info: VideoInfo, audio: "AudioSource | np.ndarray", sample_rate: int, plan: OutputPlan, start: float,
        keep_audio: bool = False, on_packet: Callable[[float], None] | None = None,
        on_audio: Callable[[np.ndarray], None] | None = None) -> Path:
    """Write the scored clip described by `plan`; `audio` (an `AudioSource` or an (n, 2) float32
    array) starts at `start` seconds, the first frame's time, and lasts as long as the picture.
    `on_audio` sees each chunk of the soundtrack as it is encoded."""
    import av
    from av.video.reformatter import VideoReformatter

    check_writable(plan.path)
    tmp = plan.path.with_name(f".{plan.path.name}.partial")
    try:
        with av.open(str(info.path), metadata_errors="ignore") as src, \
                av.open(str(tmp), "w", format=plan.format) as dst:
            v_in = src.streams.video[0]
            a_in = src.streams.audio[0] if keep_audio and src.streams.audio else None
            if plan.copy_video:
                v_out = dst.add_stream_from_template(v_in)
            else:
                use_decode_threads(v_in)
                v_out = dst.add_stream(REENCODE_CODEC, rate=v_in.average_rate or v_in.guessed_rate or 25)
                v_out.width, v_out.height = info.width // 2 * 2, info.height // 2 * 2
                v_out.pix_fmt = "yuv420p"
                v_out.time_base = v_in.time_base
                v_out.options = {"crf": "18", "preset": "veryfast"}
            music = AudioWriter(dst, audio, sample_rate, start, on_audio)
            kept = _KeptAudio(dst, a_in) if a_in is not None else None
            streams = [v_in] + ([a_in] if a_in is not None else [])
            # one for the clip, not one per frame (sources.iter_frames); none when the picture is copied
            scaler = None if plan.copy_video else VideoReformatter()
            for packet in src.demux(*streams):
                if packet.stream is a_in:
                    kept.add(packet)
                    continue
                if plan.copy_video:
                    if packet.size == 0:  # the demuxer's end-of-stream marker
                        continue
                    stamp = packet.dts if packet.dts is not None else packet.pts
                    now = float(stamp * packet.time_base) if stamp is not None else music.written()
                    music.write_until(now + 0.5)
                    packet.stream = v_out
                    dst.mux(packet)
                else:
                    now = music.written()
                    for frame in packet.decode():  # the end-of-stream packet flushes the decoder
                        now = float(frame.time)
                        music.write_until(now + 0.5)
                        dst.mux(v_out.encode(scaler.reformat(frame, width=v_out.width, height=v_out.height,
                                                             format="yuv420p")))
                if on_packet is not None:
                    on_packet(now)
            if not plan.copy_video:
                dst.mux(v_out.encode(None))
            if kept is not None:
                kept.finish()
            music.finish()
        os.replace(tmp, plan.path)
    except av.FFmpegError as exc:
        tmp.unlink(missing_ok=True)
        raise MuxError(f"{plan.path}: could not write the scored clip ({exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return plan.path


class _KeptAudio:
    """The input's own audio, copied when the container holds its codec, else re-encoded to AAC."""

    def __init__(self, container, stream):
        import av

        self.container = container
        fmt = container.format.name
        self.copy = stream.codec_context.name in _holds(fmt)
        if self.copy:
            self.out = container.add_stream_from_template(stream)
        else:
            self.out = container.add_stream(AUDIO_CODEC, rate=stream.codec_context.sample_rate or 48000,
                                            options=AUDIO_OPTIONS)
            self.out.layout = "stereo"
            self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=self.out.rate)
        self.out.metadata["title"] = "original audio"

    def add(self, packet) -> None:
        if packet.size == 0:
            return
        if self.copy:
            packet.stream = self.out
            self.container.mux(packet)
            return
        for frame in packet.decode():
            for converted in self.resampler.resample(frame):
                converted.pts = None
                self.container.mux(self.out.encode(converted))

    def finish(self) -> None:
        if not self.copy:
            self.container.mux(self.out.encode(None))
