"""The status page of `score-av live` (`--status HOST:PORT`): one page a technician opens on a phone
or a wall screen to see that the installation is well, and the same figures as JSON for scripts.

    GET /             the page: no external assets; it polls /status.json every second
    GET /status.json  camera, people, key, bar, bpm, latency_ms, underruns, cpu, rss_mb, uptime_s,
                      errors, layers, last_bars (see LiveRun.status in runner.py)
    GET /healthz      200 "ok" while frames arrive and the audio flows, else 503 and one line saying why
    GET /frame.jpg    a small recent frame, only with show_frames (visitors are filmed): else 404

This module only serves: the runner gathers the figures on its main thread and hands `StatusServer`
callables that return the latest snapshot, so a request never touches the audio or the engine.
The server runs on the standard library's ThreadingHTTPServer in a daemon thread.

It is bound to 127.0.0.1 unless told otherwise; bound anywhere else it needs a token, given as
`?token=...` or `Authorization: Bearer ...`; a request without it is answered 401.
"""
from __future__ import annotations

import errno
import hmac
import json
import logging
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("score_av.live.status")

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ERRORS_KEPT = 20


class StatusAddressError(ValueError):
    """A status address that cannot be used: one line saying why."""


def parse_address(text: str) -> tuple[str, int]:
    """"HOST:PORT" (or "[::1]:PORT") as (host, port); port 0 picks a free one."""
    host, sep, port = str(text).strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host:
        raise StatusAddressError(f"bad address {text!r}: give HOST:PORT, e.g. 127.0.0.1:8080")
    try:
        number = int(port)
    except ValueError:
        raise StatusAddressError(f"bad address {text!r}: the port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise StatusAddressError(f"bad address {text!r}: the port must be 0-65535 (0 picks a free one)")
    return host, number


def is_loopback(host: str) -> bool:
    return host in LOOPBACK


class RecentErrors(logging.Handler):
    """The last `kept` log records at WARNING and above, as one-line strings, for the page."""

    def __init__(self, kept: int = ERRORS_KEPT):
        super().__init__(logging.WARNING)
        self.records: deque[str] = deque(maxlen=kept)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).splitlines()
            self.records.append(line[0] if len(line) == 1 else f"{line[0]} ({line[-1]})")
        except Exception:  # a record that cannot be formatted must not reach the audio thread's caller
            pass

    def lines(self) -> list[str]:
        return list(self.records)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class StatusServer:
    """Serves the page, /status.json, /healthz and /frame.jpg from the callables given.

    `status()` returns the current figures (a dict, JSON-able); `health()` None when all is well,
    else why not (one line); `frame()` a small RGB frame or None, and is only asked when
    `show_frames`. The address is bound here, so a port in use is one StatusAddressError line
    before anything starts; `start()` serves on a daemon thread, `close()` stops.
    """

    def __init__(self, address: str, status: Callable[[], dict], health: Callable[[], str | None],
                 frame: Callable[[], object] | None = None, token: str | None = None, show_frames: bool = False):
        host, port = parse_address(address)
        if not is_loopback(host) and not token:
            raise StatusAddressError(f"{address}: bound beyond this machine the status page needs a token "
                                     "(--status-token, token in [status]); or bind it to 127.0.0.1")
        self.status, self.health, self.frame = status, health, frame
        self.token, self.show_frames = token or None, show_frames
        handler = type("StatusHandler", (_Handler,), {"owner": self})
        kind = _Server6 if ":" in host else _Server
        try:
            self.httpd = kind((host, port), handler)
        except OSError as exc:
            why = "the port is in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise StatusAddressError(f"{address}: cannot serve there ({why}); give another port, "
                                     "or port 0 for a free one") from None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="live-status", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=2.0)
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    owner: StatusServer
    server_version = "score-av-live"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def _allowed(self, query: dict) -> bool:
        token = self.owner.token
        if token is None:
            return True
        given = query.get("token", [""])[0]
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = given or header[len("Bearer "):].strip()
        return bool(given) and hmac.compare_digest(given.encode(), token.encode())

    def _send(self, code: int, body: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        if not self._allowed(parse_qs(url.query)):
            self._send(401, b"a token is needed: ?token=... or Authorization: Bearer ...\n", "text/plain; charset=utf-8")
            return
        try:
            if url.path in ("/", "/index.html"):
                self._send(200, PAGE.encode(), "text/html; charset=utf-8")
            elif url.path == "/status.json":
                figures = dict(self.owner.status(), show_frames=self.owner.show_frames)
                self._send(200, json.dumps(figures, default=str).encode(), "application/json")
            elif url.path == "/healthz":
                why = self.owner.health()
                self._send(503 if why else 200, f"{why or 'ok'}\n".encode(), "text/plain; charset=utf-8")
            elif url.path == "/frame.jpg" and self.owner.show_frames and self.owner.frame is not None:
                jpeg = _jpeg(self.owner.frame())
                if jpeg is None:
                    self._send(404, b"no frame yet\n", "text/plain; charset=utf-8")
                else:
                    self._send(200, jpeg, "image/jpeg")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # a bad request must never take more than itself down
            log.debug("status request %s failed: %s", self.path, exc)
            self._send(500, f"{type(exc).__name__}: {exc}\n".encode(), "text/plain; charset=utf-8")


def _jpeg(frame) -> bytes | None:
    if frame is None:
        return None
    import cv2

    ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return data.tobytes() if ok else None


# The page: inline CSS and JS only (no external asset: the gallery's network may have no internet).
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>score-av live</title>
<style>
:root { --bg:#111418; --card:#1c2128; --fg:#e8eaed; --dim:#8b949e; --ok:#3fb950; --bad:#f85149; --warn:#d29922; --note:#79c0ff; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:16px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { display:flex; align-items:center; gap:.8em; padding:.8em 1em; border-bottom:1px solid #2d333b; flex-wrap:wrap; }
header h1 { font-size:1.15em; margin:0; font-weight:600; }
#camera { padding:.2em .7em; border-radius:1em; font-weight:700; text-transform:uppercase; letter-spacing:.05em; background:var(--dim); color:#000; }
#camera.live { background:var(--ok); } #camera.lost, #camera.stopped { background:var(--bad); } #camera.frozen { background:var(--warn); }
#why { color:var(--dim); font-size:.9em; }
#conn { margin-left:auto; color:var(--dim); font-size:.85em; }
main { display:grid; grid-template-columns:repeat(auto-fill, minmax(140px, 1fr)); gap:.7em; padding:1em; }
.card { background:var(--card); border-radius:.6em; padding:.7em .9em; }
.card .label { color:var(--dim); font-size:.8em; text-transform:uppercase; letter-spacing:.06em; }
.card .value { font-size:1.35em; font-weight:600; font-variant-numeric:tabular-nums; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
.wide { grid-column:1 / -1; }
#roll { width:100%; height:160px; display:block; background:#0b0d10; border-radius:.4em; }
#errors { margin:0; padding-left:1.2em; font:13px/1.4 ui-monospace, monospace; color:#ffa198; max-height:16em; overflow:auto; }
#errors.none { color:var(--dim); list-style:none; padding-left:0; }
#frame { max-width:100%; border-radius:.4em; display:block; }
#layers { font-size:1em; color:var(--fg); } #key { white-space:normal; }
@media (min-width: 1200px) { body { font-size:20px; } main { grid-template-columns:repeat(6, 1fr); }
  .card .value { font-size:1.6em; } .span3 { grid-column:span 3; } #roll { height:340px; } }
</style></head>
<body>
<header><h1>score-av live</h1><span id="camera">…</span><span id="why"></span><span id="conn">connecting…</span></header>
<main>
  <div class="card"><div class="label">people</div><div class="value" id="people">—</div></div>
  <div class="card"><div class="label">key</div><div class="value" id="key">—</div></div>
  <div class="card"><div class="label">bar</div><div class="value" id="bar">—</div></div>
  <div class="card"><div class="label">tempo</div><div class="value" id="bpm">—</div></div>
  <div class="card"><div class="label">latency p95</div><div class="value" id="latency">—</div></div>
  <div class="card"><div class="label">underruns</div><div class="value" id="underruns">—</div></div>
  <div class="card"><div class="label">cpu</div><div class="value" id="cpu">—</div></div>
  <div class="card"><div class="label">memory</div><div class="value" id="rss">—</div></div>
  <div class="card"><div class="label">uptime</div><div class="value" id="uptime">—</div></div>
  <div class="card wide span3"><div class="label">layers</div><div class="value" id="layers">—</div></div>
  <div class="card wide"><div class="label">last bars</div><svg id="roll" preserveAspectRatio="none"></svg></div>
  <div class="card wide" id="framecard" hidden><div class="label">camera</div><img id="frame" alt="a recent frame"></div>
  <div class="card wide"><div class="label">last errors</div><ul id="errors" class="none"><li>none</li></ul></div>
</main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const q = token ? "?token=" + encodeURIComponent(token) : "";
const $ = id => document.getElementById(id);
const dash = v => (v === null || v === undefined) ? "\\u2014" : v;
const HOLD = 0, NOTE_OFF = 1, FIRST = 2, MIN_PITCH = 21, STEPS = 16;
function uptime(s) {
  if (s === null || s === undefined) return "\\u2014";
  s = Math.floor(s); const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return d ? `${d}d ${h}h ${m}m` : h ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}
function notes(tokens) {  // as music_vae.representation.tokens_to_notes: a note lasts until the next event
  const out = []; let cur = null, start = 0;
  tokens.forEach((t, i) => {
    if (t === HOLD) return;
    if (cur !== null) { out.push([cur, start, i]); cur = null; }
    if (t >= FIRST) { cur = t - FIRST + MIN_PITCH; start = i; }
  });
  if (cur !== null) out.push([cur, start, tokens.length]);
  return out;
}
function roll(bars) {
  const svg = $("roll"), W = 1000, H = 200, ns = "http://www.w3.org/2000/svg";
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const all = [].concat(...(bars || []));
  const ns_ = notes(all);
  const steps = Math.max(all.length, STEPS);
  let lo = Math.min(...ns_.map(n => n[0]), 127), hi = Math.max(...ns_.map(n => n[0]), 0);
  if (!ns_.length) { lo = 60; hi = 72; }
  if (hi - lo < 12) { const mid = (hi + lo) / 2; lo = Math.floor(mid - 6); hi = Math.ceil(mid + 6); }
  const rowH = H / (hi - lo + 1), stepW = W / steps;
  for (let b = 0; b <= steps / STEPS; b++) {
    const l = document.createElementNS(ns, "line");
    l.setAttribute("x1", b * STEPS * stepW); l.setAttribute("x2", b * STEPS * stepW);
    l.setAttribute("y1", 0); l.setAttribute("y2", H); l.setAttribute("stroke", "#2d333b"); l.setAttribute("stroke-width", 2);
    svg.appendChild(l);
  }
  const last = steps - STEPS;
  for (const [p, s, e] of ns_) {
    const r = document.createElementNS(ns, "rect");
    r.setAttribute("x", s * stepW + 1); r.setAttribute("width", Math.max((e - s) * stepW - 2, 2));
    r.setAttribute("y", (hi - p) * rowH); r.setAttribute("height", Math.max(rowH - 1, 2)); r.setAttribute("rx", 2);
    r.setAttribute("fill", s >= last ? "#ffd866" : "#79c0ff");
    svg.appendChild(r);
  }
}
let frameShown = false;
function show(s) {
  const cam = $("camera"); cam.textContent = s.camera; cam.className = s.camera;
  $("why").textContent = s.camera_why || "";
  $("people").textContent = dash(s.people);
  $("key").textContent = dash(s.key);
  $("bar").textContent = dash(s.bar);
  $("bpm").textContent = s.bpm ? `${Math.round(s.bpm * 10) / 10} bpm` : "\\u2014";
  $("latency").textContent = s.latency_ms === null ? "\\u2014" : `${Math.round(s.latency_ms)} ms`;
  $("underruns").textContent = dash(s.underruns);
  $("cpu").textContent = s.cpu === null ? "\\u2014" : `${Math.round(s.cpu * 100)} %`;
  $("rss").textContent = s.rss_mb === null ? "\\u2014" : `${Math.round(s.rss_mb)} MB`;
  $("uptime").textContent = uptime(s.uptime_s);
  $("layers").textContent = (s.layers || []).map(l => l.level === 1 ? l.name : `${l.name} ${Math.round(l.level * 100)}%`).join(" \\u00b7 ") || "\\u2014";
  roll(s.last_bars);
  const errs = $("errors"); errs.replaceChildren();
  errs.className = s.errors && s.errors.length ? "" : "none";
  for (const e of (s.errors && s.errors.length ? s.errors.slice().reverse() : ["none"])) {
    const li = document.createElement("li"); li.textContent = e; errs.appendChild(li);
  }
  $("framecard").hidden = !s.show_frames;
  if (s.show_frames) $("frame").src = "frame.jpg" + q + (q ? "&" : "?") + "t=" + Date.now();
}
async function poll() {
  try {
    const r = await fetch("status.json" + q, {cache: "no-store"});
    if (!r.ok) throw new Error(r.status + " " + r.statusText);
    show(await r.json());
    $("conn").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("conn").textContent = "no answer: " + e.message;
    const cam = $("camera"); cam.textContent = "no answer"; cam.className = "stopped";
  }
}
poll(); setInterval(poll, 1000);
</script>
</body></html>
"""
