"""The demo clip is the same, byte for byte, on every run and every machine (for one PyAV/FFmpeg/x264 build).

Two processes make it at once, one as a small machine would (one core, one thread everywhere,
numpy without its SIMD code paths), the other with every core and more OpenCV threads than cores.
"""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np

from score_av.clips import rgb_to_yuv420p

ROOT = Path(__file__).resolve().parents[1]
# The demo clip's sha256 as measured with these (PyAV, numpy, OpenCV) versions: with them, any machine
# must give these bytes; other versions may legitimately differ (numpy's random streams, OpenCV's
# drawing, FFmpeg and x264 in PyAV's wheel). Update it when the scenes or the encoding change on purpose.
KNOWN = {("18.1.0", "2.4.6", "5.0.0"): "f1f08c5bdaf7c053445928e3d546199fa21f0811cabb6f055994f549ab6fbbfe"}
MAKE = """
import os, sys
if sys.argv[2] == "one-cpu" and hasattr(os, "sched_setaffinity"):  # before anything counts the cores
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from pathlib import Path
from score_av.demo import make_demo_clip
make_demo_clip(Path(sys.argv[1]))
"""


def _numpy_simd() -> str:
    """numpy's dispatched SIMD targets this CPU has (for NPY_DISABLE_CPU_FEATURES), or ''."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:
        return ""
    return " ".join(f for f in __cpu_dispatch__ if __cpu_features__.get(f))


def _decoded(path: Path) -> tuple[int, str]:
    """Frame count and sha256 of the decoded yuv420p planes (no colour conversion in between)."""
    digest, n = hashlib.sha256(), 0
    with av.open(str(path)) as clip:
        for frame in clip.decode(video=0):
            assert frame.format.name == "yuv420p"
            digest.update(frame.to_ndarray().tobytes())
            n += 1
    return n, digest.hexdigest()


def test_demo_clip_is_the_same_bytes_and_frames_in_two_processes(tmp_path):
    base = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    small = {**base, "OMP_NUM_THREADS": "1", "OPENCV_FOR_THREADS_NUM": "1", "NPY_DISABLE_CPU_FEATURES": _numpy_simd()}
    large = {**base, "OMP_NUM_THREADS": str(os.cpu_count() or 1), "OPENCV_FOR_THREADS_NUM": "5"}
    paths = [tmp_path / "small.mp4", tmp_path / "large.mp4"]
    runs = [subprocess.Popen([sys.executable, "-c", MAKE, str(path), cpus], env=env, stderr=subprocess.PIPE, text=True)
            for path, cpus, env in zip(paths, ("one-cpu", "all-cpus"), (small, large))]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    small_bytes, large_bytes = (p.read_bytes() for p in paths)
    digest = hashlib.sha256(small_bytes).hexdigest()
    assert digest == hashlib.sha256(large_bytes).hexdigest()
    known = KNOWN.get((av.__version__, np.__version__, cv2.__version__))
    assert known in (None, digest), f"the demo clip is {digest} here, {known} where it was measured"
    assert b"Lavf" not in small_bytes  # no muxer version tag (bitexact)
    frames = [_decoded(p) for p in paths]
    assert frames[0] == frames[1] and frames[0][0] == 600


def test_yuv_conversion_is_swscales_within_rounding():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    smooth = np.stack([xx * 4, yy * 5, (xx + yy) * 2 + 20], -1).astype(np.uint8)  # colour gradients
    for rgb in (smooth, rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)):
        ours = rgb_to_yuv420p(rgb).ravel().astype(int)
        theirs = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray().ravel()
        assert np.abs(ours[:48 * 64] - theirs[:48 * 64]).max() <= 1  # luma: rounding only
        if rgb is smooth:  # chroma: swscale filters and sites it its own way, so only close on smooth pictures
            assert np.abs(ours[48 * 64:] - theirs[48 * 64:]).mean() < 1
    grey = np.full((2, 2, 3), 255, np.uint8)
    assert rgb_to_yuv420p(grey).ravel().tolist() == [235, 235, 235, 235, 128, 128]
