"""modelkit, the floor under both model packages: where a model name is found, the checkpoint format
and its refusals, atomic writes, the device and the one user-error base."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import modelkit
from modelkit import locate

FMT = modelkit.CheckpointFormat("test/kit", version=2, what="test kit")


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """Three model folders standing for $SCORE_AV_MODELS, the checkout's and the installed one."""
    env, checkout, installed = (tmp_path / name for name in ("env", "checkout", "installed"))
    for folder in (env, checkout, installed):
        folder.mkdir()
    monkeypatch.setenv(locate.ENV_VAR, str(env))
    monkeypatch.setattr(locate, "CHECKOUT_MODELS", checkout)
    monkeypatch.setattr(locate, "_installed_dirs", lambda: [installed])
    return env, checkout, installed


def test_a_name_is_looked_up_in_the_env_folder_then_the_checkout_then_the_installed_models(folders):
    env, checkout, installed = folders
    assert modelkit.search_path() == [env, checkout, installed]
    for folder in folders:
        (folder / "everywhere.pt").write_bytes(b"")
    (checkout / "shipped.pt").write_bytes(b"")
    (installed / "shipped.pt").write_bytes(b"")
    (installed / "wheel.pt").write_bytes(b"")
    assert modelkit.resolve_model("everywhere") == env / "everywhere.pt"
    assert modelkit.resolve_model("shipped") == checkout / "shipped.pt"
    assert modelkit.resolve_model("wheel") == installed / "wheel.pt"
    assert modelkit.resolve_model(installed / "wheel.pt") == installed / "wheel.pt"  # a path is itself
    assert modelkit.models_dir() == env
    assert modelkit.shipped_names() == ["everywhere", "shipped", "wheel"]


def test_without_the_env_variable_or_a_checkout_the_installed_models_are_found(folders, monkeypatch, tmp_path):
    _, _, installed = folders
    monkeypatch.delenv(locate.ENV_VAR)
    monkeypatch.setattr(locate, "CHECKOUT_MODELS", tmp_path / "no-checkout")
    (installed / "vae.pt").write_bytes(b"")
    assert modelkit.resolve_model("vae") == installed / "vae.pt"
    assert modelkit.models_dir() == installed


def test_a_missing_model_names_what_there_is_and_how_to_make_one(folders):
    class MineError(modelkit.CheckpointError):
        pass

    (folders[1] / "vae.pt").write_bytes(b"")
    with pytest.raises(MineError, match=r"nope: no such model file.*shipped: vae; train one with `make it`"):
        modelkit.resolve_model("nope", MineError, train="make it")


def test_the_checkout_models_are_this_repository_media_models():
    assert locate.CHECKOUT_MODELS == Path(__file__).resolve().parents[1] / "media" / "models"


def test_a_checkpoint_reads_back_what_was_written(tmp_path):
    path = tmp_path / "m.pt"
    FMT.write(path, {"model": {"w": torch.arange(3.0)}, "step": 7})
    ckpt = FMT.read(path)
    assert ckpt["format"] == "test/kit" and ckpt["version"] == 2 and ckpt["step"] == 7
    assert torch.equal(ckpt["model"]["w"], torch.arange(3.0))
    assert not list(tmp_path.glob("*.tmp"))


@dataclass
class Code:
    """Not a tensor nor a plain value: `weights_only` loading must refuse it."""
    x: int = 1


@pytest.mark.parametrize("contents, message", [
    (None, "no such checkpoint"),
    (b"\x00junk", r"not a test kit checkpoint \(\w+\)"),
    ({"format": "test/kit", "version": 2, "code": Code()}, r"not a test kit checkpoint \(\w+\)"),
    ([1, 2], "not a test kit checkpoint$"),
    ({"format": "someone/else", "version": 2}, "not a test kit checkpoint$"),
    ({"format": "test/kit", "version": 1}, r"checkpoint version 1 is not supported \(this score-av reads version 2\)"),
])
def test_a_file_that_is_not_a_checkpoint_of_this_format_is_refused_in_one_line(tmp_path, contents, message):
    path = tmp_path / "bad.pt"
    if isinstance(contents, bytes):
        path.write_bytes(contents)
    elif contents is not None:
        torch.save(contents, path)
    with pytest.raises(modelkit.CheckpointError, match=message) as err:
        FMT.read(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_weights_that_do_not_fit_the_model_are_one_line(tmp_path):
    with pytest.raises(modelkit.CheckpointError, match="weights do not match the configuration"):
        with FMT.building(tmp_path / "m.pt"):
            torch.nn.Linear(2, 2).load_state_dict({"weight": torch.zeros(3, 3)})


def test_a_failed_write_leaves_the_old_file_whole(tmp_path):
    path = tmp_path / "card.json"
    modelkit.atomic_write_json(path, {"a": 1})
    with pytest.raises(Exception):
        modelkit.atomic_torch_save(lambda: None, path)  # a lambda cannot be pickled
    assert path.read_text() == '{\n  "a": 1\n}\n' and not list(tmp_path.glob("*.tmp"))


def test_a_model_card_sits_beside_its_checkpoint(tmp_path):
    ckpt = tmp_path / "m.pt"
    assert modelkit.read_model_card(ckpt) == {}
    model = torch.nn.Linear(3, 2)
    card = {"parameters": modelkit.parameter_count(model), "machine": modelkit.machine_record(torch.device("cpu"))}
    assert modelkit.write_model_card(ckpt, card) == tmp_path / "m.json"
    assert modelkit.read_model_card(ckpt) == card and card["parameters"] == 8
    assert set(card["machine"]) == {"platform", "processor", "cpu_count", "torch", "device", "threads"}
    assert card["machine"]["device"] == "cpu" and card["machine"]["torch"] == torch.__version__


def test_the_device_is_chosen_or_refused_in_one_line():
    assert modelkit.resolve_device("cpu") == torch.device("cpu")
    assert modelkit.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(modelkit.UserError, match="--device gpu: not a device"):
        modelkit.resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(modelkit.UserError, match="CUDA is not available"):
            modelkit.resolve_device("cuda")


def test_every_error_for_a_person_has_the_one_base_the_command_line_catches():
    from music_vae.errors import CheckpointError as MusicCheckpointError, MusicInputError
    from score_av.cli import USER_ERRORS
    from score_av.errors import ScoreAVError
    from score_av.synth import SoundfontNotFound, SynthError
    from video_vae.errors import CheckpointError as VideoCheckpointError

    assert USER_ERRORS is modelkit.UserError
    for error in (MusicCheckpointError, MusicInputError, VideoCheckpointError, ScoreAVError, SoundfontNotFound,
                  SynthError):
        assert issubclass(error, modelkit.UserError), error
    assert issubclass(MusicCheckpointError, modelkit.CheckpointError)
    assert issubclass(VideoCheckpointError, modelkit.CheckpointError)
