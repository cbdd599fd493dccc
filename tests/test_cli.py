"""The `score-av` command line as a person meets it: figures as JSON, sound files, one-line errors."""
import json
import shutil
import subprocess
import sys
import wave

import mido
import pytest

from music_vae.midi_io import read_midi
from score_av.cli import main
from score_av.synth import SoundfontNotFound, find_soundfont

from conftest import JIG_ABC

FIGURES = ("bars", "teacher_forced_accuracy", "sampled_accuracy", "interp_mean_step_change",
           "interp_max_step_change", "interp_evenness")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def needs_soundfont():
    try:
        find_soundfont()
    except SoundfontNotFound as exc:
        pytest.skip(str(exc))


def test_eval_music_prints_one_json_object(capsys, tiny_model, midi_folder):
    code, out, _ = run(capsys, "eval", "music", "--model", tiny_model, "--input", midi_folder, "--pairs", 16)
    assert code == 0
    figures = json.loads(out)
    assert figures["bars"] == 16 * 8
    for key in FIGURES[1:]:
        assert 0.0 <= figures[key] <= 1.0
    assert figures["interp_evenness"] == pytest.approx(
        figures["interp_mean_step_change"] / figures["interp_max_step_change"])


def test_eval_without_input_uses_the_models_test_split(capsys, tiny_model):
    code, out, _ = run(capsys, "eval", "music", "--model", tiny_model, "--pairs", 8)
    assert code == 0
    assert "test split" in json.loads(out)["input"]


def test_sample_writes_midi_and_a_wav_of_exactly_n_bars(capsys, tiny_model, tmp_path):
    needs_soundfont()
    mid, wav = tmp_path / "s.mid", tmp_path / "s.wav"
    code, out, _ = run(capsys, "music", "sample", "--model", tiny_model, "-n", 4, "--bpm", 100,
                       "-o", mid, "--wav", wav)
    assert code == 0 and str(mid) in out
    notes = read_midi(mid).notes
    assert notes and max(n.end for n in notes) <= 4 * 16
    with wave.open(str(wav)) as w:
        assert w.getnframes() == round((4 * 240 / 100 + 1.0) * 44100)


def test_interpolate_walks_between_two_files(capsys, tiny_model, midi_folder, tmp_path):
    a, b = midi_folder / "tune00.mid", midi_folder / "tune01.mid"
    out = tmp_path / "i.mid"
    code, _, _ = run(capsys, "music", "interpolate", "--model", tiny_model, a, b, "--bar-b", 3,
                     "--steps", 5, "--method", "slerp", "-o", out)
    assert code == 0
    assert max(n.end for n in read_midi(out).notes) <= 5 * 16
    code, _, err = run(capsys, "music", "interpolate", "--model", tiny_model, a, b, "--bar-a", 99, "-o", out)
    assert code == 2 and "has 8 usable bars" in err


def test_corpus_report(capsys, midi_folder):
    code, out, _ = run(capsys, "music", "corpus", midi_folder, "--json")
    assert code == 0 and json.loads(out)["tunes_read"] == 16
    code, out, _ = run(capsys, "music", "corpus", midi_folder)
    assert code == 0 and "bars per style" in out


def one_line_error(capsys, *argv) -> str:
    """A foreseeable problem: exit 2, one line on stderr, nothing on stdout."""
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("score-av: error: ") and "Traceback" not in err, err
    assert out == ""
    return err


def test_bad_input_gets_one_clear_line(capsys, tiny_model, tmp_path):
    err = one_line_error(capsys, "eval", "music", "--model", tiny_model, "--input", tmp_path / "missing.mid")
    assert "missing.mid: no such file" in err

    empty = tmp_path / "empty.mid"
    mido.MidiFile(tracks=[mido.MidiTrack()]).save(str(empty))
    assert "no notes" in one_line_error(capsys, "eval", "music", "--model", tiny_model, "--input", empty)

    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"\x00\x01 not midi")
    assert "not a readable MIDI file" in one_line_error(capsys, "eval", "music", "--model", tiny_model,
                                                       "--input", garbage)

    jig = tmp_path / "jig.abc"
    jig.write_text(JIG_ABC)
    assert "meter 6/8" in one_line_error(capsys, "eval", "music", "--model", tiny_model, "--input", jig)

    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"PK\x03\x04 not a checkpoint")
    assert "not a score-av music model" in one_line_error(capsys, "music", "sample", "--model", fake,
                                                          "-o", tmp_path / "x.mid")
    assert "no such model" in one_line_error(capsys, "music", "sample", "--model", "nonexistent-model",
                                             "-o", tmp_path / "x.mid")


def test_missing_soundfont_is_a_clear_error(capsys, tiny_model, tmp_path, monkeypatch):
    monkeypatch.delenv("SCORE_AV_SOUNDFONT", raising=False)
    err = one_line_error(capsys, "music", "sample", "--model", tiny_model, "-o", tmp_path / "x.mid",
                         "--wav", tmp_path / "x.wav", "--soundfont", tmp_path / "none.sf2")
    assert "none.sf2" in err
    assert not (tmp_path / "x.wav").exists()


def test_console_script_teaches():
    exe = shutil.which("score-av") or shutil.which("score-av", path=str(__import__("pathlib").Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the score-av console script is not installed (pip install -e .)")
    done = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for command in ("render", "music", "train", "eval", "demo"):
        assert command in done.stdout


def test_a_data_prior_is_fitted_beside_the_model_and_sampled_from(capsys, tiny_model, tmp_path):
    model = tmp_path / "m.pt"  # a copy: the session's tiny model stays without one
    shutil.copy(tiny_model, model)
    shutil.copy(tiny_model.with_suffix(".json"), model.with_suffix(".json"))
    code, out, _ = run(capsys, "music", "prior", "--model", model, "--components", 1, 2)
    assert code == 0 and "m.prior.npz" in out
    card = json.loads(model.with_suffix(".json").read_text())["data_prior"]
    assert card["reproduce"] == "score-av music prior --model m" and card["components"] >= 1
    style = next(iter(card["styles"]))
    mid = tmp_path / "s.mid"
    code, out, _ = run(capsys, "music", "sample", "--model", model, "--style", style, "-n", 4, "-o", mid)
    assert code == 0 and f"in the {style} style" in out and read_midi(mid).notes
    assert "unknown style 'nope'" in one_line_error(capsys, "music", "sample", "--model", model, "--style", "nope",
                                                    "-o", mid)


def test_train_music_writes_the_command_that_reproduces_it_into_the_card(capsys, midi_folder, tmp_path):
    out = tmp_path / "m.pt"
    run(capsys, "train", "music", "--config", "tiny", "--data", str(midi_folder), "--steps", "4",
        "--device", "cpu", "--out", str(out))
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["reproduce"] == f"score-av train music --config tiny --data {midi_folder} --steps 4 --out {out}"
    assert card["training"]["steps"] == 4 and card["data"]["sources"] == [str(midi_folder)]


def test_the_command_line_parses_without_loading_torch():
    """`score-av --help`, and every command up to its work, stands on the standard library, numpy and
    the small modules: torch (over a second to import) loads when a model does, so a render's first
    frames need not wait for it."""
    code = ("import sys; from score_av.cli import build_parser; build_parser(); "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, "torch is imported to parse the arguments"
