"""`score-av live`: the gallery installation, a camera (or a file played in real time) scored as it happens."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from installations.live.player import PERIOD_SIZE, PERIODS

from ..band import LAYERS, preset_names
from ..models import MUSIC_MODEL
from ..presence import PRESENCE_HZ

EXAMPLES = """\
examples:
  score-av live                                         camera 0, FluidSynth on ALSA, a window when there is a display
  score-av live --source clip.mp4 --audio-driver file --wav heard.wav --duration 60 --stats stats.json
                                                        try it without a camera or sound card
  score-av live --camera 1 --midi-out score-av --osc 127.0.0.1:9000 --fullscreen
  score-av live --config /etc/score-av/live.toml        an installation's settings (installations/live.example.toml)
  score-av live --preset folk --layers melody,bass,drums   a band under the melody, each layer on its own channel

How it answers: each frame is encoded as it comes and placed in the music model's space by
running statistics. Bar k+1 is decoded while bar k plays. When the picture changes, the rest of
the bar playing is decoded again from the next sixteenth note with the new code, and a new note
sounds there (within 125 ms at 120 bpm). Notes are played by FluidSynth's sequencer on the audio
clock. If the camera is unplugged, frozen or lost, that is noticed within two seconds; the music
drifts slowly on its own while the camera is tried again, and follows it again when it is back.
A camera not there at start-up is waited for (said once in the log); a --source that cannot be
opened at start-up is an error (exit status 2) unless --wait-for-source.

OSC in (127.0.0.1:9001 unless --osc-in says otherwise): /score-av/tempo BPM, /score-av/model NAME,
/score-av/style NAME, /score-av/volume 0-1, /score-av/mute 0|1, /score-av/layer LAYER 0-1 (0 mutes
it). OSC out (--osc): /score-av/code, /score-av/bar, /score-av/note (pitch, velocity, seconds,
layer), /score-av/state, /score-av/people (the count, when it changes). Under systemd: installations/score-av-live.service.

Status page (--status 127.0.0.1:8080): the camera, key, bar, tempo, the last bars, latency, underruns,
CPU, memory and the last errors, updated every second; /status.json for scripts, /healthz (200 while
frames arrive and the audio flows, else 503 and why). Bound beyond 127.0.0.1 it needs --status-token.
"""


def register(sub) -> None:
    p = sub.add_parser("live", help="score a camera (or a file in real time) live, for an installation",
                       description="Score a camera live: music from the speakers that answers what happens in front of it.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--camera", type=int, metavar="INDEX", help="camera index (default: 0)")
    where.add_argument("--source", metavar="FILE_OR_URL", help="a video file or stream played in real time, looping")
    p.add_argument("--wait-for-source", action="store_true", default=None,
                   help="a --source that cannot be opened at start-up is waited for, the music drifting meanwhile "
                        "(default: it is an error; a camera is always waited for)")
    p.add_argument("--model", metavar="NAME_OR_PATH",
                   help=f"the music model (default: {MUSIC_MODEL}; see score-av render --help)")
    p.add_argument("--style", metavar="NAME", help="one style of the model's data prior")
    p.add_argument("--bpm", type=float, help="tempo (default: 120)")
    p.add_argument("--audio-driver", choices=("alsa", "pulseaudio", "jack", "coreaudio", "file"),
                   help="FluidSynth's audio output; file writes what would be heard to --wav (default: alsa)")
    p.add_argument("--audio-periods", type=int, metavar="N", dest="audio_periods",
                   help=f"the audio buffer holds N periods (2 to 64; default: {PERIODS}): fewer answer the picture "
                        "sooner, more survive a busier machine without a glitch")
    p.add_argument("--period-size", type=int, metavar="FRAMES", dest="audio_period_size",
                   help=f"samples a period (64 to 8192; default: {PERIOD_SIZE}); the buffer is N x FRAMES samples, "
                        f"{PERIODS * PERIOD_SIZE / 44.1:.1f} ms by default at 44.1 kHz")
    p.add_argument("--wav", type=Path, help="the WAV the file driver writes (default: live.wav)")
    p.add_argument("--midi-out", metavar="NAME", help="also play the notes on this MIDI port (a virtual one if none matches)")
    p.add_argument("--osc", metavar="HOST:PORT", help="send codes, bars and notes over OSC")
    p.add_argument("--osc-in", metavar="HOST:PORT", help="listen for OSC controls (default: 127.0.0.1:9001; off: none)")
    p.add_argument("--config", type=Path, metavar="FILE.toml", help="settings file; options given here win")
    p.add_argument("--fullscreen", action="store_true", default=None, help="the window fills the screen")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: run until stopped)")
    p.add_argument("--stats", type=Path, metavar="FILE.json", help="write what was measured (kept up to date while running)")
    p.add_argument("--log", type=Path, metavar="FILE", help="log file, rotated (default: stderr only)")
    p.add_argument("--soundfont", metavar="SF2", help="soundfont (default: $SCORE_AV_SOUNDFONT, then a GM font on the system)")
    p.add_argument("--program", type=int, metavar="0-127",
                   help="the melody's General MIDI program (default: the preset's, else 0, piano)")
    p.add_argument("--preset", metavar="NAME|FILE.toml",
                   help=f"a band: {', '.join(preset_names())} (shipped), or a TOML file with one table per layer, "
                        "as render's; --layers and --program win over it (default: the melody alone)")
    p.add_argument("--layers", metavar="LIST",
                   help=f"the layers that play, comma-separated, from {', '.join(LAYERS)} (the melody always), "
                        "each on its own MIDI channel (default: the preset's, else melody)")
    p.add_argument("--key", help='"auto" (from the colour of the first bar, then following the room\'s light), '
                                 '"none" or e.g. "D major", which stays (default: auto)')
    p.add_argument("--key-follow-s", type=float, metavar="S",
                   help="with --key auto: a change of light that lasts S seconds moves the piece one step to a "
                        "related key, at a phrase's start; shorter ones never do (at least 300; 0: never; "
                        "default: 1200, 20 minutes)")
    p.add_argument("--no-gestures", dest="gestures", action="store_const", const=False, default=None,
                   help="movement sets only the loudness (default: the motion of the last half beat also sets how busy "
                        "the melody's figure is, answered within a beat)")
    p.add_argument("--no-development", dest="development", action="store_const", const=False, default=None,
                   help="a held look repeats its bar (default: it grows a phrase around it, as render's)")
    p.add_argument("--seed", type=int, help="another rotation from picture to music space")
    p.add_argument("--volume", type=float, metavar="0-1", help="output volume (default: 0.8)")
    p.add_argument("--status", metavar="HOST:PORT",
                   help="serve a status page, /status.json and /healthz there (e.g. 127.0.0.1:8080; port 0: a free one)")
    p.add_argument("--status-token", metavar="TOKEN",
                   help="the token the status page needs (required when bound beyond 127.0.0.1)")
    p.add_argument("--status-show-frames", action="store_true", default=None,
                   help="the status page shows a small recent frame (default: off, visitors are filmed)")
    p.add_argument("--presence-hz", type=float, metavar="HZ",
                   help="count the people in front of the camera this many times a second, off the audio path "
                        "(/score-av/people, --stats, the status page; someone entering an empty room starts a "
                        "new bar); 0: off (default: %g)" % PRESENCE_HZ)
    p.set_defaults(run=run_live)


def run_live(args: argparse.Namespace) -> int:
    from installations.live.config import LiveConfigError, read_config
    from installations.live.runner import LiveRun
    from installations.live.service import setup_logging

    options = {k: v for k, v in vars(args).items() if k not in ("run", "command", "config")}
    config = read_config(args.config, options)
    try:
        setup_logging(config.log)
    except OSError as exc:
        raise LiveConfigError(f"log {config.log}: cannot write it ({exc.strerror or exc})") from None
    started = time.time()
    run = LiveRun(config)
    figures = run.run()
    latency = figures["latency_ms_picture_to_first_changed_note"]
    out = f", audio: {run.wav}" if run.wav else ""
    stats = f", stats: {config.stats}" if config.stats else ""
    answered = (f"{figures['picture_changes_answered']} of {figures['picture_changes']} picture changes answered, "
                f"latency p95 {latency['p95']:.0f} ms, max {latency['max']:.0f} ms" if latency["n"]
                else f"no picture change answered (of {figures['picture_changes']})")
    print(f"live: {figures['bars_played']} bars, {figures['frames_encoded']} frames, {answered}{out}{stats} "
          f"({time.time() - started:.0f} s)")
    return 0
