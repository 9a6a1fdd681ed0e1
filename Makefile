# imagehost: two commands, from a fresh Debian machine.
#
#   make run    venv + the backend's locked packages + nginx, then nginx and the workers on
#               127.0.0.1:8080 in the foreground (Ctrl-C stops both). Settings: .env,
#               overridden by the environment (see .env.sample).
#   make test   the same, plus the tests' locked packages, Chromium for the browser tests,
#               Ceph's S3 gateway and PostgreSQL, then the suite in its three
#               configurations (README, "Tests"): every test with the images in a folder
#               and the index in SQLite (make test-local-sqlite), then again what depends
#               on them with the index in PostgreSQL (make test-local-postgres) and with
#               the images in an S3 bucket too (make test-s3-postgres).
#   make lint   ruff (lint, and the format check) and mypy, with their settings in
#               pyproject.toml; fails on any finding.
#   make backup the images and a snapshot of the index in backup/imagehost-<UTC time>.tar.gz,
#               while the service runs (settings as for make run: .env, then the environment).
#   make restore ARCHIVE=backup/imagehost-....tar.gz  puts them back; stop the service first.
#   make lock   rewrites the locks (*/requirements.txt) from the ranges (*/requirements.in);
#               LOCK_FLAGS=--upgrade moves every pin to the newest release in range,
#               LOCK_FLAGS='--upgrade-package NAME' one of them.
#
# Missing system packages are installed with apt-get when running as root; otherwise the
# command to run is printed and make stops.

PYTHON ?= python3
VENV := .venv
# The locks: exact versions with the hashes of every file of each release, made by
# `make lock`. The tests' lock holds the backend's pins too.
RUN_LOCK := services/backend/requirements.txt
TEST_LOCK := tests/requirements.txt
# Touched after a successful pip install; pip runs again when its lock changes.
RUN_INSTALLED := $(VENV)/.installed-run
TEST_INSTALLED := $(VENV)/.installed-test
PIP_INSTALL := $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes
# One resolution for every platform and Python from 3.11 on (the Docker image runs a newer
# one), each release with all its hashes.
LOCK_COMPILE := $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock' $(LOCK_FLAGS)

TEST_CONFIGS := local-sqlite local-postgres s3-postgres

.PHONY: run test $(TEST_CONFIGS:%=test-%) lint setup bench lock nginx chromium wrk exiftool ceph postgresql backup restore

run: $(RUN_INSTALLED) nginx
	$(VENV)/bin/python services/local/run.py

backup: $(RUN_INSTALLED)
	PYTHONPATH=services/backend $(VENV)/bin/python -m imagehost backup --output backup

restore: $(RUN_INSTALLED)
	@[ -n "$(ARCHIVE)" ] || { echo "make: say which archive: make restore ARCHIVE=backup/imagehost-....tar.gz" >&2; exit 2; }
	PYTHONPATH=services/backend $(VENV)/bin/python -m imagehost restore "$(ARCHIVE)"

# Every configuration runs even when one fails, so one run reports them all.
test: setup chromium wrk exiftool ceph postgresql
	@status=0; for config in $(TEST_CONFIGS); do \
		$(MAKE) --no-print-directory test-$$config || status=1; \
	done; exit $$status

# One configuration (IMAGEHOST_TEST_CONFIG, tests/support/configuration.py). pytest leaves
# out what does not depend on it outside local-sqlite, and says what it left out.
# local-postgres runs tests/integration only, to keep CI within its time: the browser,
# load and fault tests run in local-sqlite and s3-postgres, which between them cover
# each engine (README, "Tests"); TESTS=tests runs them all there too.
# -rfEs: the summary also names each skipped test with its reason (what the machine lacks).
TESTS_local-sqlite := tests
TESTS_local-postgres := tests/integration
TESTS_s3-postgres := tests
$(TEST_CONFIGS:%=test-%): setup chromium wrk exiftool ceph postgresql
	@echo "make $@: IMAGEHOST_TEST_CONFIG=$(@:test-%=%), $(or $(TESTS),$(TESTS_$(@:test-%=%)))"
	IMAGEHOST_TEST_CONFIG=$(@:test-%=%) $(VENV)/bin/python -m pytest -rfEs $(or $(TESTS),$(TESTS_$(@:test-%=%)))

# ruff and mypy come with the tests' lock; what they check and how is in pyproject.toml.
# All three run, so one report shows every kind of finding; any finding fails the target.
lint: $(TEST_INSTALLED)
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check --output-format concise . || \
		{ status=1; echo "make lint: '$(VENV)/bin/ruff format --diff' shows the changes, '$(VENV)/bin/ruff format' makes them"; }; \
	$(VENV)/bin/mypy || status=1; \
	exit $$status

# The venv with every locked package (the tests' lock), and nginx: what bench/ needs too.
setup: $(TEST_INSTALLED) nginx

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

$(RUN_INSTALLED): $(VENV)/bin/python $(RUN_LOCK)
	$(PIP_INSTALL) -r $(RUN_LOCK)
	touch $@

$(TEST_INSTALLED): $(VENV)/bin/python $(TEST_LOCK)
	$(PIP_INSTALL) -r $(TEST_LOCK)
	touch $@

# The backend's lock first: the tests' lock is held to its pins (-c), so both agree.
lock: $(VENV)/bin/python
	$(PIP_INSTALL) -r lock-tool.txt
	$(LOCK_COMPILE) services/backend/requirements.in -o $(RUN_LOCK)
	$(LOCK_COMPILE) -c $(RUN_LOCK) tests/requirements.in -o $(TEST_LOCK)

# nginx, and envsubst (gettext-base) for services/nginx/render-config.sh.
nginx:
	@{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } && command -v envsubst >/dev/null || \
		{ $(call apt_install,nginx gettext-base,nginx or envsubst); }

# PostgreSQL 15, which the tests start as a throwaway cluster (tests/support/postgres.py)
# to run the index's tests against it too.
postgresql:
	@[ -x /usr/lib/postgresql/15/bin/initdb ] || { $(call apt_install,postgresql,PostgreSQL for the index tests); }

# wrk, the load generator of bench/ (test_bench_smoke.py runs `bench/run --smoke`).
wrk:
	@command -v wrk >/dev/null || { $(call apt_install,wrk,wrk); }

# The benchmark of docs/performance.md (about 20 minutes; e.g. BENCH_FLAGS=--smoke).
bench: setup wrk
	bench/run $(BENCH_FLAGS)

# exiftool, the second reader (after Pillow) of what metadata a served image still holds.
exiftool:
	@command -v exiftool >/dev/null || { $(call apt_install,libimage-exiftool-perl,exiftool for the metadata tests); }

# Ceph's S3 gateway (radosgw) with a monitor and an OSD: the S3 server the tests start
# (tests/support/s3_server.py) for the S3 storage tests.
ceph:
	@command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && \
		command -v ceph >/dev/null || \
		{ $(call apt_install,ceph-mon ceph-osd radosgw ceph-common uuid-runtime,Ceph's S3 gateway for the S3 tests); }

# Debian's Chromium and its driver, for tests/e2e (Playwright drives the system browser).
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ $(call apt_install,chromium chromium-driver,Chromium for the browser tests); }
