# imagehost: two commands, from a fresh Debian machine.
#
#   make run    venv + packages + nginx, then nginx and the workers on 127.0.0.1:8080 in the
#               foreground (Ctrl-C stops both). Settings: .env, overridden by the
#               environment (see .env.sample).
#   make test   the same, plus Chromium for the browser tests, then pytest tests (all).
#
# Missing system packages are installed with apt-get when running as root; otherwise the
# command to run is printed and make stops.

PYTHON ?= python3
VENV := .venv
REQUIREMENTS := services/backend/requirements.txt tests/requirements.txt
# Touched after a successful pip install; pip runs again when a requirements file changes.
INSTALLED := $(VENV)/.installed

.PHONY: run test bench setup nginx chromium wrk

run: setup
	$(VENV)/bin/python services/local/run.py

test: setup chromium wrk
	PYTHONPATH=services/backend $(VENV)/bin/python -m pytest tests

setup: $(INSTALLED) nginx

# apt_install PACKAGES, WHAT: install PACKAGES as root, else say how and fail.
define apt_install
	if [ "$$(id -u)" = 0 ]; then \
		echo "make: $(2) is missing; installing $(1)"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1) >/dev/null; \
	else \
		echo "make: $(2) is missing; install it with: sudo apt-get install $(1)" >&2; exit 1; \
	fi
endef

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null && $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || \
		{ $(call apt_install,python3 python3-venv,Python with its venv module); }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): $(VENV)/bin/python $(REQUIREMENTS)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(addprefix -r ,$(REQUIREMENTS))
	touch $@

# nginx, and envsubst (gettext-base) for services/nginx/render-config.sh.
nginx:
	@{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } && command -v envsubst >/dev/null || \
		{ $(call apt_install,nginx gettext-base,nginx or envsubst); }

# wrk, the load generator of bench/ (test_bench_smoke.py runs `bench/run --smoke`).
wrk:
	@command -v wrk >/dev/null || { $(call apt_install,wrk,wrk); }

# The benchmark of docs/performance.md (about 20 minutes; e.g. BENCH_FLAGS=--smoke).
bench: setup wrk
	bench/run $(BENCH_FLAGS)

# Debian's Chromium and its driver, for tests/e2e (Playwright drives the system browser).
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ $(call apt_install,chromium chromium-driver,Chromium for the browser tests); }
