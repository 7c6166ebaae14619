# CareWatch: `make run` starts a simulated home, `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RUN_APT := mosquitto mosquitto-clients fonts-noto-cjk
TEST_APT := mosquitto mosquitto-clients influxdb victoria-metrics chromium fonts-noto-cjk

.PHONY: run test lint bench apt-run apt-test venv clean

# Install Debian packages only when missing (idempotent, no apt-get update otherwise).
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi
endef

apt-run:
	$(call apt_install,$(RUN_APT))

apt-test:
	$(call apt_install,$(TEST_APT))

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

run: apt-run venv
	$(VENV)/bin/carewatch demo

test: apt-test venv lint
	$(PY) -m pytest -q

bench: apt-test venv
	$(PY) -m bench.offline --runs 5
	$(PY) -m bench.webhook --alarms 100 --load 0 1000 --runs 3

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
