# Two commands a newcomer needs: `make demo` and `make test`.  Both are idempotent: they create or
# refresh .venv (only when pyproject.toml changed), install what they need, then run.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Debian packages the show needs (headless GL through Mesa's EGL, PortAudio for audio input, a C++
# compiler for the generator's compiled activation: stylegan3/native) and
# the ones the tests add (virtual X, OSC/MIDI/JACK peers, a browser); installed only as root,
# otherwise what is missing is said in one line.
DEBIAN_DEMO_PACKAGES ?= libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libportaudio2 g++
DEBIAN_TEST_PACKAGES ?= $(DEBIAN_DEMO_PACKAGES) xvfb liblo-tools jackd2 chromium curl

.PHONY: demo test test-cuda bench venv debian-deps demo-deps clean gpu-prepare twemoji kernels

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# $(call apt,PACKAGES): install the missing ones (root), or name them in one line (not root, or
# no apt: another system's packages are the user's to choose).
apt = @missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "livegan: missing system packages:" $$missing "(install them, e.g. sudo apt-get install" $$missing")"; fi

debian-deps:
	$(call apt,$(DEBIAN_TEST_PACKAGES))

demo-deps:
	$(call apt,$(DEBIAN_DEMO_PACKAGES))

# The generator's compiled CPU kernels (vendor/stylegan3/native), built into ~/.cache/livegan
# before the show or the tests start rather than inside their first frame; without a compiler
# this says so in one line and the torch path runs.
kernels: $(STAMP)
	@$(PY) -c "from stylegan3 import native; native.library()"

# The live window when there is a display; otherwise a 10-second headless render of the same show.
demo: $(STAMP) demo-deps kernels
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(PY) perform.py; \
	else echo "no display: rendering the show headless into recordings/"; \
	$(PY) perform.py --headless --duration 10 --store recordings; fi

# A worker per core (at most 4; pytest-xdist) for all but the tests timed against real peers
# (JACK audio, MIDI clock, mDNS: tests/conftest.py), which then run alone; about half the
# serial time on two cores.
test: $(STAMP) debian-deps kernels
	$(PY) -m pytest -q -n auto --maxprocesses 4 --dist worksteal -m "not realtime"
	$(PY) -m pytest -q -m realtime

# On a CUDA machine, with a CUDA build of torch in the environment: half precision, CUDA graphs,
# device frames and CUDA-GL sharing.
test-cuda:
	$(PY) -m pytest -q tests/cuda

# Fetch what the one prepared GPU run needs into .whl/ and .gl/ (git-ignored; see docs/gpu.md).
gpu-prepare: $(STAMP)
	PYTHON=$(PY) bash bench/gpu/prepare.sh

# Retrain builtin:twemoji (docs/training.md): the Twemoji graphics (CC-BY 4.0) from the npm package
# emoji-datasource-twitter, checked against the registry's sha512, into a 32 px dataset, then the
# same run as the shipped network (--kimg to choose; on a 2-core CPU about 30 s/kimg).
TWEMOJI_TGZ    := https://registry.npmjs.org/emoji-datasource-twitter/-/emoji-datasource-twitter-16.0.0.tgz
TWEMOJI_SHA512 := 7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ==
TWEMOJI_KIMG   ?= 400
TWEMOJI_DIR    := recordings/twemoji
twemoji: $(STAMP)
	@mkdir -p $(TWEMOJI_DIR)
	@test -f $(TWEMOJI_DIR)/package.tgz || curl -fL --progress-bar -o $(TWEMOJI_DIR)/package.tgz $(TWEMOJI_TGZ)
	@test "$$(openssl dgst -sha512 -binary $(TWEMOJI_DIR)/package.tgz | base64 -w0)" = "$(TWEMOJI_SHA512)" || \
	  { echo "livegan: $(TWEMOJI_DIR)/package.tgz is not the published package (sha512 differs)"; exit 1; }
	@test -d $(TWEMOJI_DIR)/package/img/twitter/64 || tar xzf $(TWEMOJI_DIR)/package.tgz -C $(TWEMOJI_DIR) package/img/twitter/64
	@test -f $(TWEMOJI_DIR)/twemoji32.zip || $(PY) -m livegan dataset $(TWEMOJI_DIR)/package/img/twitter/64 \
	  --out $(TWEMOJI_DIR)/twemoji32.zip --res 32
	$(PY) -m livegan train --data $(TWEMOJI_DIR)/twemoji32.zip --out $(TWEMOJI_DIR)/run --cfg stylegan2 \
	  --batch 32 --gamma 0.01 --kimg $(TWEMOJI_KIMG) --tick 4 --snap 1 --mirror --aug diffaug \
	  --cbase 2048 --cmax 64 --w-dim 128 --map-depth 2 --fp32 --seed 0

bench: $(STAMP)
	$(PY) bench/generator.py
	$(PY) bench/perform.py

clean:
	rm -rf $(VENV) .pytest_cache
