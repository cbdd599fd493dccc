"""`score-av live` given bad input, as a new user gives it: one line on stderr, exit status 2, no
traceback, and nothing written (not even a temporary WAV), as `render` and `batch` do.

Each bad value is caught before the models load or the audio opens, except those only the model
can judge (`--model`, `--style`), which are caught before anything is opened or written.
"""
from __future__ import annotations

import gc
import socket
import subprocess
import sys

import pytest

from score_av.cli import main

from test_cli import run


def one_line_error(capsys, *argv) -> str:
    code, out, err = run(capsys, "live", *argv)
    gc.collect()  # a half-made writer would complain here ("Exception ignored ... closed file")
    err += capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("score-av: error: ") and "Traceback" not in err, err
    assert out == ""
    return err


GIVEN = ("notes.txt", "bad.toml")


@pytest.fixture
def here(tmp_path, monkeypatch):
    """An empty folder to run in, but for a text file that is not a video and a broken config."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a video\n")
    (tmp_path / "bad.toml").write_text("bpm = \n")
    return tmp_path


def written(folder) -> list[str]:
    """What appeared in `folder` (hidden files too: a temporary WAV is one)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in GIVEN)


# the WAV that a half-made start would leave behind; a duration, so that a value wrongly let through
# fails the test in seconds instead of playing on (a bad --duration given after it wins)
FILE = ("--audio-driver", "file", "--wav", "heard.wav", "--duration", "2")

BAD = [
    # where the output goes
    (FILE[:3] + ("no/such/folder/heard.wav",), "wav no/such/folder/heard.wav: the folder no/such/folder does not exist"),
    (FILE[:3] + (".",), "wav .: is a folder"),
    (("--wav", "heard.wav"), "wav heard.wav: only the file audio driver writes a WAV"),
    (FILE + ("--stats", "no/such/folder/stats.json"), "stats no/such/folder/stats.json: the folder no/such/folder does not exist"),
    (FILE + ("--stats", "."), "stats .: is a folder"),
    (FILE + ("--log", "notes.txt/live.log"), "log notes.txt/live.log: cannot write it"),
    # OSC
    (FILE + ("--osc-in", "0.0.0.0:99999"), "osc_in: bad OSC address '0.0.0.0:99999': the port must be 1-65535"),
    (FILE + ("--osc-in", "host:port"), "osc_in: bad OSC address 'host:port': the port 'port' is not a number"),
    (FILE + ("--osc-in", "no-such-host.invalid:9001"), "osc_in no-such-host.invalid:9001: cannot listen there"),
    (FILE + ("--osc", "127.0.0.1:0"), "osc: bad OSC address '127.0.0.1:0': the port must be 1-65535"),
    (FILE + ("--osc", "9000:host"), "osc: bad OSC address '9000:host'"),
    # the picture
    (FILE + ("--source", "/no/such/file.mp4"), "source /no/such/file.mp4: no such file; to wait for a source"),
    (FILE + ("--source", "notes.txt"), "source notes.txt: cannot open it as a video"),
    (FILE + ("--camera", "-1"), "camera -1: a camera index is 0 or more"),
    # the music
    (FILE + ("--bpm", "0"), "bpm 0.0: choose 20 to 300"),
    (FILE + ("--bpm", "nan"), "bpm nan: choose 20 to 300"),
    (FILE + ("--bpm", "1000"), "bpm 1000.0: choose 20 to 300"),
    (FILE + ("--volume", "1.5"), "volume 1.5: choose 0 to 1"),
    (FILE + ("--volume", "nan"), "volume nan: choose 0 to 1"),
    (FILE + ("--program", "128"), "program 128: a General MIDI program is 0 to 127"),
    (FILE + ("--program", "-1"), "program -1: a General MIDI program is 0 to 127"),
    (FILE + ("--duration", "-1"), "duration -1.0: give seconds"),
    (FILE + ("--duration", "nan"), "duration nan: give seconds"),
    (FILE + ("--duration", "inf"), "duration inf: give seconds"),
    (FILE + ("--seed", "-1"), "seed -1: a seed is 0 or more"),
    (FILE + ("--key", "H major"), "--key 'H major': the tonic must be a note name"),
    (FILE + ("--key", "D lydian"), "--key 'D lydian': the mode must be one of"),
    (FILE + ("--soundfont", "none.sf2"), "soundfont none.sf2 does not exist"),
    (FILE + ("--model", "nonexistent-model"), "nonexistent-model: no such model"),
    # the config file
    (FILE + ("--config", "missing.toml"), "missing.toml: no such config file"),
    (FILE + ("--config", "bad.toml"), "bad.toml: not valid TOML"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a[len(FILE):] if a[:len(FILE)] == FILE else a) for a, _ in BAD])
def test_a_bad_value_is_one_line_and_exit_status_2_with_nothing_written(capsys, here, argv, message):
    err = one_line_error(capsys, *argv)
    assert message in err
    assert written(here) == []


def test_a_config_file_is_checked_like_the_options(capsys, here):
    config = here / "live.toml"
    for text, message in [('tempo = 90\n', "unknown setting tempo"),
                          ('bpm = "fast"\n', "bpm = 'fast': expected float"),
                          ('wait_for_source = "yes"\n', "wait_for_source = 'yes': expected bool"),
                          ('camera = 1.5\n', "camera = 1.5: expected int"),
                          ('osc_in = "0.0.0.0:99999"\n', "osc_in: bad OSC address")]:
        config.write_text(text)
        assert message in one_line_error(capsys, "--config", config, *FILE)
    config.write_text('audio_driver = "speakers"\n')
    assert "audio_driver 'speakers': choose one of" in one_line_error(capsys, "--config", config, "--duration", "2")
    assert written(here) == ["live.toml"]


def test_an_unknown_style_is_one_line_before_anything_is_opened(capsys, here):
    """The style can only be judged by the model: it is checked once the model is loaded, before the
    audio, the WAV or any port is opened."""
    err = one_line_error(capsys, *FILE, "--style", "nope")
    assert "unknown style 'nope'" in err
    assert written(here) == []


@pytest.mark.parametrize("argv", [("--bpm", "fast"), ("--camera", "one"), ("--audio-driver", "speakers"),
                                  ("--camera", "1", "--source", "clip.mp4"), ("--volume",)])
def test_what_argparse_refuses_is_its_usage_and_one_error_line(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(["live", *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.splitlines()[-1].startswith("score-av live: error: ") and "Traceback" not in err


def test_a_taken_osc_in_port_is_not_a_bad_value():
    """A port another program holds is the machine's state, not a typo: said once when OSC in starts,
    and the music plays on (runner.py); only an address that cannot be this machine's is refused."""
    from installations.live.runner import _check_bindable

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        _check_bindable(*taken.getsockname())  # no error


def test_as_a_new_user_runs_it_the_whole_of_stderr_is_one_line(tmp_path):
    """The reported case, in a process of its own so that whatever its end prints is seen too: the
    one-line error used to be followed by "Exception ignored ... write to closed file" from the
    WAV writer, and a temporary WAV was left behind."""
    done = subprocess.run([sys.executable, "-m", "score_av", "live", *FILE, "--osc-in", "0.0.0.0:99999"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert list(tmp_path.iterdir()) == []
    assert done.stderr == "score-av: error: osc_in: bad OSC address '0.0.0.0:99999': the port must be 1-65535\n"
