VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export WANDB_MODE ?= offline
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $(STAMP)

demo: setup
	$(PY) -m avatarlab.demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) scripts/bench_prepare.py

clean:
	rm -rf logs outputs multirun wandb
