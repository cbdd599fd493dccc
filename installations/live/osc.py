"""OSC for `score-av live`: what the installation plays goes out, a few controls come in.

Artists connect the installation to their own tools (Max, Pure Data, TouchDesigner, a lighting
desk) through OSC over UDP. Out (`OscOut`), every bar that starts playing sends its music code and
its tokens, every note its pitch, velocity, length and layer, the runner its state, and the people
counter (presence.py) the number of people in front of the camera when it changes. In
(`OscIn`), tempo, model, style, volume, mute and each layer's level can be set while it runs.

Addresses out:  /score-av/code  [bar, *floats]        the music latent code of the bar that plays
                /score-av/note  [pitch, velocity, seconds, layer]   layer: melody, bass, harmony, drums
                /score-av/bar   [bar, *16 ints]       the bar's (melody's) tokens
                /score-av/state [state]               "live", "lost", ...
                /score-av/people [count]              people in front of the camera, each time the count changes
Addresses in:   /score-av/tempo f (20..300 bpm)   /score-av/model s   /score-av/style s ("" or "none")
                /score-av/volume f (0..1)         /score-av/mute i or T/F (0/1)
                /score-av/layer s f (a layer that plays, and its level 0..1; 0 mutes it)
"""
from __future__ import annotations

import logging
import math
import socket
import threading
import time
from typing import Any, Callable, Protocol, Sequence

import numpy as np
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient

from modelkit.errors import UserError
from score_av.band import LAYERS

log = logging.getLogger("score_av.live.osc")

PREFIX = "/score-av"
DEFAULT_HOST = "127.0.0.1"
TEMPO_RANGE = (20.0, 300.0)
CODE, NOTE, BAR, STATE, PEOPLE = (f"{PREFIX}/{name}" for name in ("code", "note", "bar", "state", "people"))
WARN_EVERY = 10.0  # seconds between two warnings about the same mistake of an OSC sender


class OscConfigError(UserError, ValueError):
    """An OSC address a person gave that cannot be used (bad HOST:PORT, unknown host, port taken).

    A UserError so that the command line prints it as one line; a ValueError for callers that
    only expect bad input.
    """


def parse_host_port(text: str, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """Read "HOST:PORT", ":PORT" or "PORT" (an IPv6 host in brackets: "[::1]:9000").

    The host defaults to 127.0.0.1, so that giving only a port never opens the installation to
    the network by accident.
    """
    spec = text.strip()
    expected = 'expected "HOST:PORT", ":PORT" or "PORT", e.g. "127.0.0.1:9000"'
    if spec.startswith("["):                      # [IPv6]:PORT
        host, sep, port_text = spec[1:].partition("]:")
        if not sep:
            raise OscConfigError(f"bad OSC address {text!r}: {expected}")
    elif ":" in spec:
        host, _, port_text = spec.rpartition(":")
    else:
        host, port_text = "", spec
    if not (port_text.isascii() and port_text.isdigit()):
        raise OscConfigError(f"bad OSC address {text!r}: the port {port_text!r} is not a number; {expected}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise OscConfigError(f"bad OSC address {text!r}: the port must be 1-65535")
    return (host.strip() or default_host), port


# ---------------------------------------------------------------------------------------------
# Out
# ---------------------------------------------------------------------------------------------

class OscOut:
    """Sends what plays to one OSC receiver over UDP.

    It is called from the real-time path, so a send is one message built and one non-blocking
    `sendto`, and it never raises: a receiver that is gone, a full socket buffer or a value OSC
    cannot carry is logged once per kind (address and error type) and the message is dropped.
    The host is resolved once here, not at every send (a hostname would cost a DNS lookup each
    time); a host that cannot be resolved raises OscConfigError here, where a person can fix it.
    """

    def __init__(self, host: str, port: int) -> None:
        if not 1 <= port <= 65535:
            raise OscConfigError(f"cannot send OSC to {host}:{port}: the port must be 1-65535")
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as exc:  # socket.gaierror: unknown host
            raise OscConfigError(f"cannot send OSC to {host}:{port}: {exc}") from None
        ip = info[0][4][0]
        self.host, self.port = host, port
        self._client = SimpleUDPClient(ip, port)
        self._reported: set[tuple[str, str]] = set()

    def send_code(self, bar: int, code: np.ndarray) -> None:
        """The music latent code of the bar that starts playing: [bar, *floats]."""
        self._send(CODE, lambda: [int(bar), *np.asarray(code, dtype=float).ravel().tolist()])

    def send_note(self, pitch: int, velocity: int, seconds: float, layer: str = "melody") -> None:
        """A note as it starts: [pitch, velocity, duration in seconds, layer]."""
        self._send(NOTE, lambda: [int(pitch), int(velocity), float(seconds), str(layer)])

    def send_bar(self, bar: int, tokens: Sequence[int]) -> None:
        """The tokens of the bar that starts playing (16 sixteenth-note steps): [bar, *ints]."""
        self._send(BAR, lambda: [int(bar), *(int(t) for t in tokens)])

    def send_state(self, state: str) -> None:
        """The runner's state, e.g. "live" or "lost" (no picture): [state]."""
        self._send(STATE, lambda: [str(state)])

    def send_people(self, count: int) -> None:
        """The number of people in front of the camera, each time it changes: [count]."""
        self._send(PEOPLE, lambda: [int(count)])

    def close(self) -> None:
        """Close the socket (sends after this are dropped, logged once)."""
        self._client.close()

    def _send(self, address: str, args: Callable[[], list[Any]]) -> None:
        """Send address with args(); the arguments are made inside the guard too, so that a NaN
        pitch or a code OSC cannot carry is a logged drop, not an exception in the player."""
        try:
            self._client.send_message(address, args())
        except Exception as exc:  # noqa: BLE001 - the real-time path must never see an error
            kind = (address, type(exc).__name__)
            if kind not in self._reported:
                self._reported.add(kind)
                log.warning("OSC %s to %s:%d not sent (%s: %s); further %s errors for it are not logged",
                            address, self.host, self.port, type(exc).__name__, exc, type(exc).__name__)


# ---------------------------------------------------------------------------------------------
# In
# ---------------------------------------------------------------------------------------------

class Controls(Protocol):
    """What OSC in may change. Called from the OSC server's thread, so implementations must be
    safe to call while the music plays (set a value the player reads, or queue the change).
    A method may raise ValueError for a value it refuses (an unknown model name); it is logged."""

    def set_tempo(self, bpm: float) -> None: ...

    def set_model(self, name: str) -> None: ...

    def set_style(self, name: str | None) -> None: ...

    def set_volume(self, volume: float) -> None: ...

    def set_mute(self, muted: bool) -> None: ...

    def set_layer(self, name: str, level: float) -> None: ...


class BadMessage(ValueError):
    """An OSC message with the wrong arguments; its text says what is expected."""


def _one_arg(args: tuple) -> Any:
    if len(args) != 1:
        raise BadMessage(f"{len(args)} arguments")
    return args[0]


def _number(args: tuple, low: float, high: float) -> float:
    value = _one_arg(args)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadMessage(f"{type(value).__name__} {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise BadMessage(f"{value!r}, out of range")
    return float(value)


def _text(args: tuple) -> str:
    value = _one_arg(args)
    if not isinstance(value, str):
        raise BadMessage(f"{type(value).__name__} {value!r}")
    return value.strip()


def _model(args: tuple) -> str:
    name = _text(args)
    if not name:
        raise BadMessage("an empty name")
    return name


def _style(args: tuple) -> str | None:
    name = _text(args)
    return None if name.lower() in ("", "none") else name


class Arguments(tuple):
    """What a parser gives for a control that takes more than one value: the method is called with each."""


def _layer(args: tuple) -> Arguments:
    if len(args) != 2:
        raise BadMessage(f"{len(args)} arguments")
    name, level = args
    if not isinstance(name, str):
        raise BadMessage(f"{type(name).__name__} {name!r} for the layer")
    if name.strip().lower() not in LAYERS:
        raise BadMessage(f"unknown layer {name!r}")
    return Arguments((name.strip().lower(), _number((level,), 0.0, 1.0)))


def _mute(args: tuple) -> bool:
    value = _one_arg(args)
    if isinstance(value, bool):               # OSC T / F
        return value
    if isinstance(value, (int, float)) and value in (0, 1):  # i, or f 0.0/1.0 as many toggles send
        return bool(value)
    raise BadMessage(f"{value!r}")


# address tail -> (parser of the arguments, Controls method, what a good message looks like)
_ROUTES: dict[str, tuple[Callable[[tuple], Any], str, str]] = {
    "tempo": (lambda a: _number(a, *TEMPO_RANGE), "set_tempo", "one number, 20 to 300 (bpm)"),
    "model": (_model, "set_model", "one string, a model name"),
    "style": (_style, "set_style", 'one string, a style name, or "" or "none" for no style'),
    "volume": (lambda a: _number(a, 0.0, 1.0), "set_volume", "one number, 0 to 1"),
    "mute": (_mute, "set_mute", "one int 0 or 1, or T/F"),
    "layer": (_layer, "set_layer", f"a layer ({', '.join(LAYERS)}) and a number, 0 to 1 (0 mutes it)"),
}


class OscIn:
    """Listens for OSC controls and applies them to `controls`, on a daemon thread.

    It binds to 127.0.0.1 unless the caller passes another host: anyone who can reach the port
    can retune the installation, and a gallery network (visitors' phones on the same wifi)
    should not be able to unless the installer chose so. Every message is checked (count, type,
    range); a bad one is logged in one line and ignored, and a controls method that raises is
    logged, so that nothing a sender does stops the server. The same mistake repeated is logged
    at most every WARN_EVERY seconds. Messages are applied one at a time, in order; a bundle's
    time tag is ignored (applied at once), so that no sender can make the server sleep.
    """

    def __init__(self, controls: Controls, host: str = DEFAULT_HOST, port: int = 9001) -> None:
        self.controls = controls
        self.host, self.port = host, port
        self._server: BlockingOSCUDPServer | None = None
        self._thread: threading.Thread | None = None
        self._warned: dict[str, float] = {}

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on once started; with port 0, the free port it got."""
        if self._server is None:
            return self.host, self.port
        host, port = self._server.server_address[:2]
        return host, port

    def start(self) -> None:
        """Bind and serve on a daemon thread. A port that cannot be bound raises OscConfigError."""
        if self._server is not None:
            return
        dispatcher = Dispatcher(strict_timing=False)
        for tail in _ROUTES:
            dispatcher.map(f"{PREFIX}/{tail}", self._handler(tail))
        dispatcher.set_default_handler(self._unknown)
        try:
            self._server = BlockingOSCUDPServer((self.host, self.port), dispatcher)
        except OSError as exc:
            raise OscConfigError(f"cannot listen for OSC on {self.host}:{self.port}: {exc.strerror or exc}; "
                                 "choose another port or host") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="score-av-osc-in", daemon=True)
        self._thread.start()
        log.info("OSC in on %s:%d", *self.address)

    def stop(self) -> None:
        """Stop serving and release the port (quick: the server polls every 50 ms)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=2.0)
        self._server = self._thread = None

    def __enter__(self) -> OscIn:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _handler(self, tail: str) -> Callable[..., None]:
        """The handler of one address. The route is bound here, not read from the address the
        sender wrote, which may be a pattern ("/score-av/*") that pythonosc matched."""
        parse, method, expected = _ROUTES[tail]
        address = f"{PREFIX}/{tail}"

        def handle(_address: str, *args: Any) -> None:  # returns None: pythonosc sends back what it returns
            try:
                value = parse(args)
            except BadMessage as bad:
                self._warn(f"{address} bad", "OSC %s ignored: got %s; expected %s", address, bad, expected)
                return
            try:
                getattr(self.controls, method)(*(value if isinstance(value, Arguments) else (value,)))
            except ValueError as exc:
                self._warn(f"{address} {value!r}", "OSC %s %r refused: %s", address, value, exc)
            except Exception:  # noqa: BLE001 - a failing control must not stop the server
                log.exception("OSC %s %r failed", address, value)

        return handle

    def _unknown(self, address: str, *args: Any) -> None:
        known = ", ".join(f"{PREFIX}/{tail}" for tail in _ROUTES)
        self._warn(address, "OSC %s ignored: unknown address; expected one of %s", address, known)

    def _warn(self, key: str, message: str, *args: Any) -> None:
        """Log a sender's mistake at most once every WARN_EVERY seconds per `key`: a tool that
        streams a wrong fader at 60 Hz must not fill the disk of a machine that runs for weeks."""
        now = time.monotonic()
        if now - self._warned.get(key, -math.inf) < WARN_EVERY:
            return
        if len(self._warned) > 1000:          # random addresses must not grow this without bound
            self._warned.clear()
        self._warned[key] = now
        log.warning(message, *args)
