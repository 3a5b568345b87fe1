# Two entry points on a fresh machine: `make plan` and `make test` (see README).
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
APT_PKGS := postgresql redis-server nginx haproxy graphviz cloud-init wrk

.PHONY: setup system-deps plan bytecode test policy lint fmt clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# The service's own interpreter for the servers the lab and the tests start: the
# dependencies its wheel declares (app_image/pyproject.toml) and nothing else, as on the
# AMI. The development venv also holds pulumi's opentelemetry-sdk, which redis-py imports
# when it is installed: 0.70 against 0.58 CPU-s for the service's imports here, and a
# lab that could lean on a package production does not have. The service's code itself
# comes from app_image/ (PYTHONPATH), not from an installed copy.
APP_VENV := .venv-app

$(APP_VENV)/.installed: app_image/pyproject.toml | $(BIN)/python
	$(PY) -m venv $(APP_VENV) || python3 -m venv $(APP_VENV)
	$(BIN)/python -c "import tomllib; print('\n'.join(tomllib.load(open('app_image/pyproject.toml', 'rb'))['project']['dependencies']))" > $(APP_VENV)/requirements.txt
	$(APP_VENV)/bin/pip install --quiet -r $(APP_VENV)/requirements.txt
	touch $@

setup: $(VENV)/.installed $(APP_VENV)/.installed

# The servers the service and lab tests start (needs root or sudo; CI runs as root).
system-deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

plan: setup
	$(BIN)/python -m infra plan

# The repository's own modules compiled once before the suite: it starts ~100 Python
# processes (xdist workers, API servers, CLIs, runners) that import them, and where
# PYTHONDONTWRITEBYTECODE is set (the development machines' environment sets it), every one
# of them compiled them again. compileall writes __pycache__/ whatever that variable says
# (.gitignore keeps it out of git). A fresh clone, 2026-12-06: `import movies_api.app` 0.53 -> 0.37
# CPU-s, the lab's and infra's modules 0.85 -> 0.66; compiling all of it once: 0.9 CPU-s.
bytecode: setup
	$(BIN)/python -m compileall -q -j 0 infra lab app_image devservers policies tests >/dev/null

test: setup system-deps bytecode
	$(BIN)/python -m pytest

# The guardrails on every planned stack; exits non-zero on a mandatory violation.
policy: setup system-deps
	$(BIN)/python -m infra policy

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf build .pytest_cache
