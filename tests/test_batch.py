"""`score-av batch` as a person meets it: a folder of real clips scored, the bad ones named, a rerun that
finishes what an interrupted one left, the same music on either backend, and a real Ray cluster."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import pytest

from score_av.clips import write_clip
from conftest import moving_frames
from test_cli import needs_soundfont, one_line_error, run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _soundfont():
    needs_soundfont()  # every clip is rendered through FluidSynth


def clip(path: Path, seed: int, seconds: float = 2.0, size: tuple[int, int] = (64, 48), fps: int = 20) -> Path:
    """A small real H.264 clip: a bright square crossing a gradient (`seed` picks the colours)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_clip(path, moving_frames(int(seconds * fps), *size, seed=seed), fps)


def batch(capsys, *argv):
    """`score-av batch ... --quiet` in this process: (exit code, stdout, stderr)."""
    return run(capsys, "batch", *argv, "--quiet")


def manifest(outdir: Path) -> dict:
    return json.loads((outdir / "batch.json").read_text())["clips"]


def files(outdir: Path) -> set[str]:
    """Every file below `outdir`, hidden ones too, as paths relative to it."""
    return {str((Path(root) / name).relative_to(outdir)) for root, _, names in os.walk(outdir) for name in names}


def temporaries(outdir: Path) -> set[str]:
    return {f for f in files(outdir) if f.endswith((".partial", ".tmp"))}


def mtimes(paths) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in paths}


def check_scored(path: Path, source: Path | None = None) -> None:
    """A complete scored clip: it opens, holds video and a soundtrack that lasts as long as the picture
    (within 0.1 s), and, given its source, every frame of it."""
    with av.open(str(path)) as c:
        assert c.streams.video and c.streams.audio, f"{path}: no video or no audio stream"
        rate = float(c.streams.video[0].average_rate)
        frames = [float(f.time) for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = list(c.decode(audio=0))
    assert frames and audio, f"{path}: no frames or no sound"
    video_end = max(frames) + 1 / rate
    audio_end = float(audio[-1].time) + audio[-1].samples / audio[-1].sample_rate
    assert abs(audio_end - video_end) < 0.1, (path, audio_end, video_end)
    if source is not None:
        with av.open(str(source)) as c:
            assert len(frames) == sum(1 for _ in c.decode(video=0)), f"{path}: not every frame of {source}"


# -- a folder: good clips scored, bad ones named, reruns ------------------------------------------


def test_a_folder_is_scored_the_bad_files_are_named_and_a_rerun_does_nothing(capsys, tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    good = {"a.scored.mp4": clip(inp / "a.mp4", 1), "c.scored.mp4": clip(inp / "c.mkv", 3),
            "sub/b.scored.mp4": clip(inp / "sub" / "b.mp4", 2)}
    whole = clip(tmp_path / "whole.mp4", 4, seconds=3, size=(160, 120), fps=25).read_bytes()
    cut = min(2048, whole.index(b"moov") - 4)  # its first 2 KB, without the index at its end
    assert cut > 512
    (inp / "corrupt.mp4").write_bytes(whole[:cut])
    (inp / "empty.mp4").write_bytes(b"")
    (inp / "notes.mov").write_text("a list of shots, not a video\n" * 20)
    (inp / "readme.txt").write_text("the folder search looks at video suffixes only\n")

    code, stdout, _ = batch(capsys, inp, "-o", out, "--workers", 2)
    assert code == 1  # some clips failed
    for name, source in good.items():
        check_scored(out / name, source)
    assert not temporaries(out)
    assert files(out) == {*good, "batch.json"}  # the layout kept, and nothing for the bad ones
    records = manifest(out)
    assert {Path(c).name for c in records} == {"a.mp4", "b.mp4", "c.mkv", "corrupt.mp4", "empty.mp4", "notes.mov"}
    for name in ("a.mp4", "sub/b.mp4", "c.mkv"):
        assert records[str((inp / name).resolve())]["status"] == "done"
    for name, reason in [("empty.mp4", "empty"), ("corrupt.mp4", "the file is truncated: it ends inside its picture"),
                         ("notes.mov", "FFmpeg cannot read")]:
        record = records[str((inp / name).resolve())]
        assert record["status"] == "failed" and reason in record["error"], record
        assert f"failed: {(inp / name).resolve()}" in stdout
    assert "3 scored, 3 failed" in stdout

    before = mtimes(out / name for name in good)
    code, stdout, _ = batch(capsys, inp, "-o", out, "--workers", 2)
    assert code == 1  # the failures are still there
    assert "0 scored" in stdout and "3 done before" in stdout and "3 failed before" in stdout
    assert mtimes(before) == before
    assert files(out) == {*good, "batch.json"}

    code, stdout, _ = batch(capsys, inp, "-o", out, "--workers", 2, "--overwrite")
    assert code == 1
    assert "3 scored, 3 failed" in stdout
    after = mtimes(before)
    assert all(after[p] != before[p] for p in before)
    for name, source in good.items():
        check_scored(out / name, source)
    assert files(out) == {*good, "batch.json"}


# -- the same music whatever runs it ---------------------------------------------------------------


@pytest.fixture
def local_ray(monkeypatch, tmp_path):
    """Ray as `ray.init()` starts it on this machine, kept from the user's environment and home:
    no cluster to join, and its token (and the RAY_AUTH_MODE it sets in os.environ) undone after."""
    for name in ("RAY_ADDRESS", "RAY_AUTH_MODE"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)  # restored to unset at teardown, whatever Ray sets meanwhile
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


def test_midi_is_the_same_on_both_backends_and_any_number_of_workers(capsys, tmp_path, local_ray):
    inp = tmp_path / "in"
    for i, name in enumerate(["dawn.mp4", "dusk.mp4", "night.mkv"]):
        clip(inp / name, 10 + i, seconds=4)
    runs = {"local-2": ["--backend", "local", "--workers", 2], "local-1": ["--backend", "local", "--workers", 1],
            "ray-2": ["--backend", "ray", "--workers", 2]}
    midi = {}
    for key, argv in runs.items():
        out = tmp_path / key
        code, stdout, _ = batch(capsys, inp, "-o", out, "--midi", "--seed", 3, *argv)
        assert code == 0 and "3 scored, 0 failed" in stdout, (key, stdout)
        assert files(out) == {"batch.json", *(f"{n}.{x}" for n in ("dawn", "dusk", "night")
                                              for x in ("scored.mp4", "mid"))}
        midi[key] = {n: (out / f"{n}.mid").read_bytes() for n in ("dawn", "dusk", "night")}
        assert all(len(m) > 30 for m in midi[key].values())
    assert midi["local-2"] == midi["local-1"] == midi["ray-2"]
    assert len(set(midi["local-2"].values())) == 3  # three pictures, three pieces


# -- a Ray cluster started with `ray start --head` -------------------------------------------------


def group_alive(pgid: int) -> bool:
    """Whether a live process of process group `pgid` is left (Linux: read from /proc)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if state != "Z" and int(group) == pgid:
            return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path):
    """A one-node Ray cluster on loopback, as `ray start --head` makes it; (address, env to join it).

    Started with --block in a session of its own, so that stopping it is a SIGTERM to the one process
    started here (Ray then stops everything it started), never `ray stop`, which stops every Ray on the
    machine. Every port is a free one, and its files go to a temporary folder of its own (short: Ray's
    socket paths are limited), so it does not meet another Ray on this machine."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="sav-ray-", dir="/tmp")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    names = ["dashboard-agent-listen", "dashboard-agent-grpc", "metrics-export", "runtime-env-agent",
             "node-manager", "object-manager"]
    if importlib.util.find_spec("grpc"):  # Ray's client server starts only with ray[client]; its port
        names.append("ray-client-server")  # may be given only then
    ports = {f"--{name}-port": str(free_port()) for name in names}
    log = tmp_path / "ray-head.log"
    head = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
                             "--port", str(port), "--node-ip-address", "127.0.0.1", "--num-cpus", "2",
                             "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp,
                             *(x for kv in ports.items() for x in kv)],
                            env=env, cwd=REPO, start_new_session=True, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None, f"ray start failed:\n{log.read_text()[-3000:]}"
            assert time.time() < deadline, f"ray start did not come up in 90 s:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", env, Path(temp)
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.time() + 15
        while group_alive(head.pid):
            if time.time() > deadline:
                os.killpg(head.pid, signal.SIGKILL)  # the group of the session started above
                break
            time.sleep(0.2)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_ray_cluster_scores_the_batch(tmp_path, ray_head):
    address, env, temp = ray_head
    inp, out = tmp_path / "in", tmp_path / "out"
    sources = {"one": clip(inp / "one.mp4", 21), "deep/two": clip(inp / "deep" / "two.mp4", 22),
               "three": clip(inp / "three.mkv", 23)}
    proc = subprocess.run([sys.executable, "-m", "score_av", "batch", str(inp), "-o", str(out), "--backend", "ray",
                           "--ray-address", address, "--midi", "--quiet"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 scored, 0 failed" in proc.stdout
    names = {"one.scored.mp4", "one.mid", "deep/two.scored.mp4", "deep/two.mid", "three.scored.mp4", "three.mid"}
    assert files(out) == {*names, "batch.json"}
    for name, source in sources.items():
        check_scored(out / f"{name}.scored.mp4", source)
    records = manifest(out)
    assert all(r["status"] == "done" for r in records.values()) and len(records) == 3
    assert json.loads((out / "batch.json").read_text())["runs"][-1]["backend"] == "ray"
    # The clips were scored by the cluster's workers (each logs under its pid), not by a Ray of its own
    ray_workers = {int(log.stem.rsplit("_", 1)[1]) for log in temp.glob("session_*/logs/python-core-worker-*_*.log")}
    assert {r["worker"] for r in records.values()} <= ray_workers


# -- interrupted: what is there is whole, and a rerun finishes the rest -----------------------------


def start_batch(inp: Path, out: Path, log: Path, *argv) -> subprocess.Popen:
    """`score-av batch` as a process of its own (its own session, so a signal to its group reaches
    it and its workers as Ctrl-C in a terminal does, and nothing else). SIGINT is given its default
    action there, as in a terminal: a suite started in the background by a shell inherits it ignored."""
    return subprocess.Popen([sys.executable, "-m", "score_av", "batch", str(inp), "-o", str(out), "--quiet",
                             *map(str, argv)], stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def ends_within(proc: subprocess.Popen, seconds: float, log: Path, what: str) -> None:
    """The batch process ends within `seconds` of `what`; killed and failed otherwise."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the batch did not end within {seconds:g} s of {what}:\n{log.read_text()[-2000:]}")


def wait_for_done(proc: subprocess.Popen, out: Path, log: Path, timeout: float = 120) -> dict:
    """The manifest's records as soon as one clip is done (while the batch still runs)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, f"the batch ended before it could be interrupted:\n{log.read_text()[-2000:]}"
        try:
            records = manifest(out)
        except (OSError, ValueError, KeyError):
            records = {}
        if any(r["status"] == "done" for r in records.values()):
            return records
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no clip was done within {timeout} s:\n{log.read_text()[-2000:]}")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("how", ["SIGINT", "ctrl-c", "SIGKILL"])
def test_an_interrupted_batch_leaves_only_whole_clips_and_a_rerun_finishes_it(capsys, tmp_path, how):
    """SIGINT: to the batch process alone; ctrl-c: SIGINT to its process group, workers included, as a
    terminal sends it; SIGKILL: the batch process killed outright (the out-of-memory killer)."""
    inp, out, log = tmp_path / "in", tmp_path / "out", tmp_path / "batch.log"
    sources = [clip(inp / f"take{i}.mp4", 30 + i, seconds=4, size=(160, 120), fps=25) for i in range(6)]
    proc = start_batch(inp, out, log, "--workers", 1)
    records = wait_for_done(proc, out, log)
    workers = {r["worker"] for r in records.values()}
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(getattr(signal, how))
    ends_within(proc, 15, log, how)
    at_stop = {f for f in files(out) if f.endswith(".scored.mp4")}

    deadline = time.time() + 15  # its workers go with it (after the clip in flight, at most)
    while any(alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), f"a worker of the batch outlived it after {how}"
    scored = {f for f in files(out) if f.endswith(".scored.mp4")}
    assert len(scored - at_stop) <= 1, f"the batch's work went on after {how}: {sorted(scored - at_stop)}"
    assert 1 <= len(scored) < len(sources), "the interrupt came after the batch had finished"
    for name in scored:  # whatever is under a final name is whole
        check_scored(out / name)
    before = mtimes(out / name for name in scored)
    # A worker stopped mid-write leaves its clip under the temporary name (whether this one did
    # depends on the moment): one is here for sure, half a clip, as it would be.
    pending = next(s for s in sources if f"{s.stem}.scored.mp4" not in scored)
    half = (out / sorted(scored)[0]).read_bytes()
    (out / f".{pending.stem}.scored.mp4.partial").write_bytes(half[: len(half) // 2])

    code, stdout, _ = batch(capsys, inp, "-o", out, "--workers", 1)
    assert code == 0, stdout
    assert f"{len(sources) - len(scored)} scored, 0 failed, {len(scored)} done before" in stdout
    assert not temporaries(out)
    assert files(out) == {"batch.json", *(f"{s.stem}.scored.mp4" for s in sources)}
    assert all(r["status"] == "done" for r in manifest(out).values()) and len(manifest(out)) == len(sources)
    for source in sources:
        check_scored(out / f"{source.stem}.scored.mp4", source)
    assert mtimes(before) == before  # what was done before the interrupt is not done again


def test_interrupting_a_long_batch_ends_it_promptly(tmp_path):
    """A batch of many clips (more queued work than a pipe holds) ends within seconds of SIGINT."""
    inp, out, log = tmp_path / "many", tmp_path / "out", tmp_path / "batch.log"
    one = clip(tmp_path / "one.mp4", 40, seconds=2)
    inp.mkdir()
    for i in range(1000):  # a thousand clips for the price of one: hard links, each its own path
        os.link(one, inp / f"clip-{i:04d}-of-a-long-day-of-shooting.mp4")
    proc = start_batch(inp, out, log, "--workers", 1)
    wait_for_done(proc, out, log)
    proc.send_signal(signal.SIGINT)
    ends_within(proc, 15, log, "SIGINT")
    assert "interrupted" in log.read_text()


# -- which clips: a list, a pattern ----------------------------------------------------------------


def test_a_list_names_the_clips_to_score(capsys, tmp_path):
    shoot, elsewhere, out = tmp_path / "shoot", tmp_path / "elsewhere", tmp_path / "out"
    clip(shoot / "takes" / "keep.mp4", 51)
    clip(shoot / "takes" / "drop.mp4", 52)  # beside the listed ones, not listed
    far = clip(elsewhere / "far.mkv", 53)
    listing = shoot / "todo.txt"
    listing.write_text(f"# the takes for the edit\ntakes/keep.mp4\n\n{far}\n")

    code, stdout, _ = batch(capsys, listing, "-o", out, "--workers", 2)
    assert code == 0 and "2 scored, 0 failed" in stdout
    assert files(out) == {"keep.scored.mp4", "far.scored.mp4", "batch.json"}
    assert set(manifest(out)) == {str((shoot / "takes" / "keep.mp4").resolve()), str(far.resolve())}
    check_scored(out / "keep.scored.mp4", shoot / "takes" / "keep.mp4")


def test_a_pattern_picks_the_clips_of_a_folder(capsys, tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    clip(inp / "wide.mkv", 61)
    clip(inp / "close" / "face.mkv", 62)
    clip(inp / "phone.mp4", 63)

    code, stdout, _ = batch(capsys, inp, "-o", out, "--workers", 2, "--pattern", "*.mkv")
    assert code == 0 and "2 scored, 0 failed" in stdout
    assert files(out) == {"wide.scored.mp4", "close/face.scored.mp4", "batch.json"}
    assert {Path(c).name for c in manifest(out)} == {"wide.mkv", "face.mkv"}


# -- bad input: one line, status 2, nothing written -------------------------------------------------


def test_the_longest_clips_are_handed_out_first(tmp_path):
    """So that short clips fill the end of a batch rather than a long one started last."""
    from installations.batch.plan import longest_first, plan_jobs

    short, long_, middle = (clip(tmp_path / f"{name}.mp4", 50 + i, seconds=s, size=(160, 120), fps=25)
                            for i, (name, s) in enumerate([("short", 1), ("long", 6), ("middle", 3)]))
    (tmp_path / "gone.mp4").write_bytes(b"x" * 10**6)
    jobs = plan_jobs([short, tmp_path / "gone.mp4", long_, middle], tmp_path / "out")
    (tmp_path / "gone.mp4").unlink()
    assert [j.clip.stem for j in longest_first(jobs)] == ["long", "middle", "short", "gone"]


def test_bad_input_is_one_line_and_status_2(capsys, tmp_path):
    out = tmp_path / "out"
    err = one_line_error(capsys, "batch", tmp_path / "no-such-folder", "-o", out, "--quiet")
    assert "no-such-folder" in err and "no such clip, folder or list" in err
    (tmp_path / "nothing").mkdir()
    assert "no video files" in one_line_error(capsys, "batch", tmp_path / "nothing", "-o", out, "--quiet")
    real = clip(tmp_path / "real.mp4", 70)
    assert "--workers" in one_line_error(capsys, "batch", real, "-o", out, "--workers", 0, "--quiet")
    assert not out.exists()
