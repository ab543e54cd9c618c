# Two commands take a fresh machine to a working product: `make run` and `make test`.
# The virtual environment is built from the committed lock file (uv.lock) by uv.
SHELL := /bin/bash
PY := .venv/bin/python
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export PYTHONHASHSEED := 0

.PHONY: run test test-fast lint bench bench-100m bench-peer browser postgres clean venv peer-venv

venv: .venv/.synced

$(UV):
	python3 -m pip install --quiet --target .tools/lib uv==0.13.8
	mkdir -p .tools/bin && ln -sf ../lib/bin/uv .tools/bin/uv

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python python3.11
	touch $@

# The featuretools peer of the feature build (benchmarks/featuretools_peer.py) in its own
# environment from its own lock file: featuretools needs pandas < 3, the main env has pandas 3.
PEER := benchmarks/peer
peer-venv: $(PEER)/.venv/.synced

$(PEER)/.venv/.synced: $(PEER)/uv.lock $(PEER)/pyproject.toml | $(UV)
	$(UV) sync --frozen --project $(PEER) --python python3.11
	touch $@

# The main job end to end on the built-in demo data.
run: venv
	.venv/bin/decay-run

# Debian's chromium + chromedriver for the report's browser test (no browser downloads at run time).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# Debian's PostgreSQL server for the PostgreSQL source/sink tests (each test session starts its own).
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

test: venv peer-venv browser postgres lint
	.venv/bin/pytest -n 2 --dist loadgroup

# The edit loop: everything but the end-to-end, browser and server tests (make test runs all).
test-fast: venv peer-venv lint
	.venv/bin/pytest -n 2 --dist loadgroup -m "not slow and not browser and not server"

# Linter, formatter and type checker (the pre-commit hooks run the same three).
lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

# Speed and memory targets (results in benchmarks/results/*.json). Needs the demo data.
bench: venv
	@test -f data/demo/events.parquet || .venv/bin/decay-simulate
	$(PY) -m benchmarks.simulate_bench
	$(PY) -m benchmarks.ingest_load
	$(PY) -m benchmarks.postgres_read
	$(PY) -m benchmarks.features_bench
	$(PY) -m benchmarks.score_bench
	$(PY) -m benchmarks.report_render
	$(PY) -m benchmarks.cause_attribution
	$(PY) -m benchmarks.oracle_gap
	$(PY) -m benchmarks.foreign_logs
	$(PY) -m benchmarks.adoption_map --seeds 10
	$(PY) -m benchmarks.scale --events 10M,30M --chunk-accounts 16
	$(PY) -m benchmarks.pipeline_scale --events 1M,10M
	$(MAKE) --no-print-directory bench-peer

# The 100M case of the scale benchmarks (about 15 minutes, 4-6 GiB; the machine should be idle).
bench-100m: venv
	$(PY) -m benchmarks.scale --events 10M,100M --allow-100m --chunk-accounts 16
	$(PY) -m benchmarks.pipeline_scale --events 1M,10M,100M --allow-100m

# Our feature build against featuretools DFS on a 1M-event sample (time, memory, ROC-AUC).
bench-peer: venv peer-venv
	@test -f data/demo/events.parquet || .venv/bin/decay-simulate
	$(PY) -m benchmarks.featuretools_peer

clean:
	rm -rf outputs mlruns data/demo .pytest_cache
