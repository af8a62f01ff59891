# The README's two commands: `make demo` (the main job) and `make test` (every test).
# Each creates or updates the local virtualenv first, so a fresh clone needs only Python 3 and git.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The demos' port: make demo PORT=8001 when 8000 is taken.
PORT ?= 8000

.PHONY: demo demo-django demo-fastapi test test-slow bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[all]"
	touch $(STAMP)

# Debian packages the browser tests and benchmarks need (chromium, wrk); skipped when present.
system-deps:
	./scripts/install-system-deps.sh

demo: $(STAMP)
	$(PY) example_sites/flask_site/run.py --port $(PORT)

demo-django: $(STAMP)
	$(PY) example_sites/django_site/manage.py demo --port $(PORT)

demo-fastapi: $(STAMP)
	$(PY) example_sites/fastapi_site/run.py --port $(PORT)

# Two workers (pytest-xdist), a test file to each in turn: the suite waits on servers and
# subprocesses much of the time. Tests marked `alone` still measure with no other test running.
# One process: .venv/bin/python -m pytest (or -n 0).
test: $(STAMP) system-deps
	$(PY) -m pytest -n 2 --dist loadfile

test-slow: $(STAMP) system-deps
	$(PY) -m pytest -m slow

# Benchmarks print their figures; benchmarks/RESULTS.md records them with the machine and date.
# The dashboard one renders the databases named by BENCH_DBS (seeded as its docstring says), else
# a tiny one: make bench BENCH_DBS="/tmp/kero-bench/1m /tmp/kero-bench/10m".
bench: $(STAMP) system-deps
	$(PY) benchmarks/request_overhead.py
	$(PY) benchmarks/http_overhead.py
	$(PY) benchmarks/asgi_overhead.py
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/memory.py
	$(PY) benchmarks/dashboard_scale.py $(if $(BENCH_DBS),run $(BENCH_DBS),smoke)

clean:
	rm -rf $(VENV) .pytest_cache tests/artifacts
