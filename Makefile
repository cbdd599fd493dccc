# Two commands do everything on a fresh clone: `make demo` and `make test`.
# Both install what they need (system libraries, a virtual environment, torch CPU) and are idempotent.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSTEM_PACKAGES := libfluidsynth3 timgm6mb-soundfont
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system demo test bench figures clean

setup: system $(STAMP)

# libfluidsynth and a small General MIDI soundfont, from the system's packages (Debian/Ubuntu).
system:
	@if command -v dpkg >/dev/null 2>&1; then \
	  missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    echo "installing system packages: $$missing"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	else echo "not a Debian system: install libfluidsynth and a GM soundfont yourself (see README)"; fi

$(STAMP): pyproject.toml
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip uninstall -q -y opencv-python-headless 2>/dev/null || true  # replaced by opencv-contrib-python-headless (same cv2)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/score-av demo

# Chromium for the status page's browser test (tests/test_live_status.py), where apt can install it;
# without it that one test is skipped with the reason.
test: setup
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium could not be installed: the status page's browser test is skipped"
	$(PY) -m pytest -q

# The benchmarks that score real footage take one real clip: `make bench CLIP=path/to/clip.mp4` (any
# video FFmpeg reads), else the clips the README's figures were measured on, in ../shared/clips.
# The render benchmarks compare with the ffmpeg program's own decode time.
CLIP ?=
CLIP_ARG := $(if $(CLIP),--clip '$(CLIP)')
bench: setup
	@[ -n "$(CLIP)" ] || [ -f ../shared/clips/one-by-one-person-detection.mp4 ] || { \
	  echo "make bench needs a real clip: make bench CLIP=PATH (any video FFmpeg reads; ../shared/clips is not there)" >&2; exit 2; }
	@command -v ffmpeg >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq ffmpeg >/dev/null; }
	$(PY) bench/music_vae_speed.py
	$(PY) bench/music_variant_cost.py
	$(PY) bench/render_speed.py $(CLIP_ARG)
	$(PY) bench/render_memory.py $(CLIP_ARG)
	$(PY) bench/musicality.py $(CLIP_ARG)
	$(PY) bench/phrase_test.py $(CLIP_ARG)
	$(PY) bench/structure.py $(CLIP_ARG)
	$(PY) bench/video_response.py $(CLIP_ARG)
	$(PY) bench/render_options.py $(CLIP_ARG)
	$(PY) bench/live_latency.py $(CLIP_ARG)

# Every figure in the README measured again (hours on 2 cores: the README's "Measuring" says how long,
# from the seconds each group took), into docs/figures.json and the README's marked passages;
# `$(PY) bench/readme_figures.py --from-json` only rewrites the README.
figures: setup
	@command -v ffmpeg >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq ffmpeg >/dev/null; }
	$(PY) bench/readme_figures.py

clean:
	rm -rf $(VENV) build *.egg-info
