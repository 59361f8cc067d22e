# The README's commands. Each target first runs tools/bootstrap.sh, which creates .venv/ on
# first use and returns in seconds when nothing changed.
VENV ?= .venv
PY := $(VENV)/bin/python
export VIDREG_VENV := $(abspath $(VENV))

.PHONY: env check train test lock offline-check

env:
	@tools/bootstrap.sh

## Environment check: versions, torch/torchvision ops, mmcv ops, registries, decord.
check: env
	$(PY) -m vidreg_mm.env_check

## The main job: train the temporal CPU recipe on the articulation preset of the synthetic hand
## videos (generated into data/synthetic_hands_articulation on first use), 1500 steps, write a
## grid of samples, print where everything is.
CONFIG ?= configs/synthetic_hands_articulation_quick_temporal_cpu.py
train: env
	$(PY) tools/train.py $(CONFIG) $(ARGS)

## The test suite: the lint (ruff.toml, [isort] in setup.cfg), then the tests.
test: env
	$(PY) -m ruff check .
	$(PY) -m isort --check-only --diff .
	$(PY) -m pytest tests

## Re-resolve the dependencies without the lock in a scratch environment and rewrite
## requirements/constraints.txt from it (review the diff, then run `make test`).
lock:
	rm -rf .venv-lock
	VIDREG_NO_LOCK=1 VIDREG_VENV=$(abspath .venv-lock) tools/bootstrap.sh
	{ echo '# Lock of the tested stack: written by `make lock`, do not edit by hand.'; \
	  .venv-lock/bin/python -m pip freeze --all --exclude-editable | grep -v '^vidreg' \
	  | sed -E 's|^([A-Za-z0-9_.-]+) @ file:.*/[A-Za-z0-9_.]+-([0-9][^-]*)-.*$$|\1==\2|' ; } \
	  > requirements/constraints.txt

## The offline install into a Python 3.12 + torch 2.11 environment, with the network cut
## (opt-in, ~30 min the first time: README, "Offline install into an existing environment").
offline-check: env
	tools/offline/check_offline_install.sh
