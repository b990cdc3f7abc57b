VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export WANDB_MODE ?= offline
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: setup demo test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $(STAMP)

demo: setup
	$(PY) -m avatarlab.demo

test: setup lint
	$(PY) -m pytest

# Lint and the tests not marked slow: under 3 minutes on 2 CPU cores.
test-fast: setup lint
	$(PY) -m pytest -m "not slow"

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@! grep -rnE '^.{121,}' --include='*.py' avatarlab tests scripts train.py serve.py || { echo 'lines over 120 characters above'; exit 1; }

# The avatar, turn and live-loop benchmarks measure the bundles `make demo` exports; the real-speech turn figures
# (avatarlab.turn.real, .loro) and the real-face avatar figures (avatarlab.bench.realism: two trainings, about
# 40 minutes) need the shared recordings in ../shared/data; avatarlab.bench.scale makes a 5-minute video.
bench: setup
	$(PY) scripts/bench_prepare.py
	$(PY) scripts/bench_avatar.py bundle=bundles/avatar_quickstart
	$(PY) scripts/bench_turn.py bundle=bundles/turn_quickstart
	$(PY) -m avatarlab.turn.real
	$(PY) -m avatarlab.turn.evaluate corpus=datasets/turn_real/monologues.jsonl out=outputs/turn_real/monologues
	$(PY) -m avatarlab.turn.loro
	$(PY) -m avatarlab.bench.loop
	$(PY) -m avatarlab.bench.transport
	$(PY) -m avatarlab.bench.soak
	$(PY) -m avatarlab.bench.sync
	$(PY) -m avatarlab.bench.realism
	$(PY) -m avatarlab.bench.scale

clean:
	rm -rf logs outputs multirun wandb
