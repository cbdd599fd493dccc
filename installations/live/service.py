"""What `score-av live` needs to run unattended for weeks: logs that cannot fill the disk, a
heartbeat a supervisor can watch, a clean stop on a signal, and memory that stays flat.

The heartbeat speaks systemd's notify protocol (a datagram on the socket named by
$NOTIFY_SOCKET) directly, so the installation needs no systemd library, and works unchanged
where there is no systemd: then it can write a heartbeat file that cron or a monitoring check
watches instead. Nothing here may stop the music: a heartbeat that cannot be sent is logged
once and otherwise ignored.
"""
from __future__ import annotations

import ctypes
import logging
import logging.handlers
import os
import platform
import signal
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

LOGGER = "score_av"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DEFAULT_INTERVAL = 10.0   # seconds between beats when systemd's watchdog does not set it

log = logging.getLogger("score_av.live.service")

MALLOC_ARENAS = 2         # glibc heaps the process may use (its default is 8 per core)
MMAP_THRESHOLD = 128 * 1024  # bytes: a block this large or larger gets pages of its own, given back when freed
_M_ARENA_MAX = -8         # mallopt's parameter numbers, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3


def tune_malloc(arenas: int = MALLOC_ARENAS, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Set glibc's malloc for a run of weeks, before the threads start; True when done.

    - At most `arenas` heaps. A thread that allocates while another holds the main heap gets a
      heap of its own, and glibc keeps what a heap once held. The installation starts new threads
      on every reconnection (the reader, FFmpeg's decoding threads), each of which may land on a
      fresh heap, so its resident memory rose by steps with the camera's outages (+18 MB in 12
      minutes with 23 outages; +8 MB with two heaps, the rest taken back by release_free_memory).
    - Blocks of `mmap_threshold` bytes or more in pages of their own (mmap), always. glibc starts
      there but raises the threshold to the size of each such block freed, so after the first
      frames are freed, frames, tensors and audio blocks (hundreds of kB, 30 a second) are carved
      from the heaps, between the small objects that outlive them; the gaps they leave are reused
      only in part, and the heap grew for as long as the run (the hour-long soak with the band and
      the people counter: +13 MB an hour, Python's own objects flat). Pages of their own go back
      to the system when the block is freed, at the price of a page fault per 4 kB touched.
    The environment's MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_, where set, win. A no-op off glibc."""
    libc = _glibc()
    if libc is None:
        return False
    done = True
    if not os.environ.get("MALLOC_ARENA_MAX"):
        done = bool(libc.mallopt(_M_ARENA_MAX, int(arenas))) and done
    if not os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        done = bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and done
    return done


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def malloc_figures() -> dict | None:
    """What glibc's malloc holds now, in MB, over all its heaps (mallinfo2): `heaps` taken from the
    system, `in_use` and `free` within them, `own_pages` in blocks with pages of their own. A heap
    that grows while `in_use` does not is fragmenting. None off glibc (or before 2.33)."""
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    mb = lambda n: round(n / 2 ** 20, 1)  # noqa: E731
    return {"heaps": mb(info.arena), "in_use": mb(info.uordblks), "free": mb(info.fordblks), "own_pages": mb(info.hblkhd)}


def release_free_memory() -> bool:
    """Give the pages of memory that is free inside glibc's heaps back to the system (malloc_trim).

    Free memory that sits between blocks still in use is kept by glibc, and a heap's free gaps grow
    slowly as frames, decoders and bars of different sizes come and go. Called once a minute by the
    runner, on its housekeeping thread (it takes a millisecond or two). A no-op off glibc."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))


def _glibc() -> ctypes.CDLL | None:
    """This process's C library when it is glibc (whose malloc the calls above tune and read), else None."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def setup_logging(path: Path | None, level: str | int = "INFO", max_bytes: int = 5_000_000,
                  backups: int = 5) -> logging.Logger:
    """Send the "score_av" loggers to stderr (the journal, under systemd) and, with `path`, to a
    file rotated at `max_bytes` with `backups` old files kept: at most (backups + 1) * max_bytes
    on disk, however many weeks it runs. The file's folder is made when missing; a file that
    cannot be opened raises OSError, at start-up, where a person sees it.

    Calling it again replaces the handlers it added before instead of adding more, so no line is
    ever written twice. Returns the "score_av" logger."""
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if getattr(h, "_score_av_service", False)]:
        logger.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                             encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._score_av_service = True  # type: ignore[attr-defined]  # marks ours, for the next call
        logger.addHandler(handler)
    logger.setLevel(level.upper() if isinstance(level, str) else level)
    return logger


def _notify_address(value: str | None) -> str | None:
    """$NOTIFY_SOCKET as an address for sendto: "@name" is Linux's abstract namespace ("\\0name")."""
    if not value:
        return None
    return "\0" + value[1:] if value.startswith("@") else value


def _watchdog_interval() -> float | None:
    """Half of systemd's watchdog timeout ($WATCHDOG_USEC), as systemd advises, so one late beat
    is not a restart; None when there is no watchdog for this process."""
    usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None    # the watchdog is another process's (we were started by it, not by systemd)
    try:
        value = int(usec) if usec else 0
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None


class Heartbeat:
    """systemd's notify protocol, with no dependency, plus an optional heartbeat file.

    With $NOTIFY_SOCKET set (Type=notify units), `ready`, `beat`, `status` and `stopping` send
    READY=1, WATCHDOG=1, STATUS=... and STOPPING=1. Without it they send nothing. The runner calls
    `beat()` whenever `due()`; `interval` is half of $WATCHDOG_USEC when systemd set it, else
    DEFAULT_INTERVAL. With `path`, each beat (and `ready`) also writes the time to that file,
    which is what a cron job or a monitoring check can watch where there is no systemd.

    No method raises: a failure is logged once (per kind: socket, file) and the music goes on."""

    def __init__(self, interval: float | None = None, path: Path | None = None):
        self.address = _notify_address(os.environ.get("NOTIFY_SOCKET"))
        self.interval = float(interval) if interval is not None else (_watchdog_interval() or DEFAULT_INTERVAL)
        self.path = Path(path) if path is not None else None
        self._socket: socket.socket | None = None
        self._last: float | None = None
        self._said: set[str] = set()

    @property
    def enabled(self) -> bool:
        """Whether a service manager is listening (NOTIFY_SOCKET was set)."""
        return self.address is not None

    def due(self) -> bool:
        """Whether a beat is due: never beaten yet, or `interval` seconds since the last."""
        return self._last is None or time.monotonic() - self._last >= self.interval

    def ready(self) -> None:
        """Start-up is done (models loaded, audio open): systemd's start job finishes here."""
        self._send("READY=1")
        self._write_file()
        self._last = time.monotonic()

    def beat(self) -> None:
        """Still alive: resets systemd's watchdog and touches the heartbeat file."""
        self._send("WATCHDOG=1")
        self._write_file()
        self._last = time.monotonic()

    def status(self, text: str) -> None:
        """One line shown by `systemctl status` (e.g. "live 120 bpm, bar 42, camera: live")."""
        self._send("STATUS=" + " ".join(str(text).split()))

    def stopping(self) -> None:
        """The runner is fading out: systemd waits for the exit instead of counting it a crash."""
        self._send("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _send(self, message: str) -> None:
        if self.address is None:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.sendto(message.encode("utf-8"), self.address)
        except Exception as error:   # noqa: BLE001 - a supervisor gone must never stop the music
            self._once("socket", "could not notify the service manager at %r (%s); going on without it",
                       self.address.replace("\0", "@"), error)
            self.close()               # a fresh socket on the next try

    def _write_file(self) -> None:
        if self.path is None:
            return
        now = time.time()
        stamp = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds")
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(f"{now:.0f} {stamp}\n", encoding="utf-8")
            os.replace(temporary, self.path)     # a watcher never reads half a line
        except Exception as error:   # noqa: BLE001
            self._once("file", "could not write the heartbeat file %s (%s); going on without it", self.path, error)

    def _once(self, kind: str, message: str, *args: object) -> None:
        if kind not in self._said:
            self._said.add(kind)
            log.warning(message, *args)


def handle_signals(stop: threading.Event) -> None:
    """SIGINT (Ctrl-C) and SIGTERM (systemctl stop, docker stop) set `stop`, so the runner fades
    the audio out, says STOPPING and exits cleanly instead of dying mid-note.

    A SIGINT that comes when `stop` is already set (Ctrl-C pressed a second time) puts Python's
    default handler back and raises KeyboardInterrupt at once: a person can always force quit.

    Must be called from the main thread: Python only lets the main thread install signal
    handlers (and runs them there), so elsewhere this raises RuntimeError."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("handle_signals must be called from the main thread")

    def on_signal(signum: int, frame: object) -> None:
        if signum == signal.SIGINT and stop.is_set():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.set()   # only this: a handler runs between any two bytecodes, logging here could interleave

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
