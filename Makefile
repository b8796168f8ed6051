# Shiftbridge: `make run` (app + demo data on SQLite) and `make test` (whole suite). Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app:create_app
HOST ?= 127.0.0.1
PORT ?= 5000
STREAM_PORT ?= 5001

.PHONY: setup run test test-cluster cluster-tools bench loadtest lint migrate-check browser clean

setup: .stamp-venv .stamp-assets

.stamp-venv: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

.stamp-assets: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error --prefer-offline --fetch-timeout=60000 --fetch-retries=4
	mkdir -p static/vendor/nhsuk static/vendor/swagger-ui
	@# Frutiger is licensed and served only from assets.nhs.uk, which our CSP (font-src 'self') blocks: drop those
	@# @font-face rules so browsers use the design system's Arial fallback, without 4 console errors on every page.
	sed -E 's/@font-face\{[^}]*assets\.nhs\.uk[^}]*\}//g' node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.css \
	  > static/vendor/nhsuk/nhsuk-frontend.min.css
	cp -r node_modules/nhsuk-frontend/dist/nhsuk/assets static/vendor/nhsuk/
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui-standalone-preset.js \
	   node_modules/swagger-ui-dist/swagger-ui.css static/vendor/swagger-ui/
	touch $@

# Browser journeys use Debian's chromium (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: browser tests will be skipped (apt-get install chromium)"; fi; }

# The cluster test's parts from Debian: nginx and HAProxy (the load balancers, each tried), socat (Unix-socket and TCP
# relays) and systemd-analyze (checks deploy/systemd; package systemd, only if absent).
cluster-tools:
	@command -v nginx >/dev/null 2>&1 && command -v haproxy >/dev/null 2>&1 && command -v socat >/dev/null 2>&1 && \
	  command -v systemd-analyze >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light haproxy socat \
	      $$(command -v systemd-analyze >/dev/null 2>&1 || echo systemd) >/dev/null; \
	  else echo "nginx/haproxy/socat/systemd-analyze not found: cluster and deploy-file tests will be skipped"; fi; }

run: setup
	$(BIN)/flask db upgrade heads
	$(BIN)/flask demo seed
	@# VAPID keys for Web Push, once, in instance/ (never committed): the demo nurse can turn on notifications.
	$(BIN)/flask push keys
	@# The production shape on SQLite: the gunicorn web tier, the stream service (live notifications, gevent), one
	@# outbox worker (texts, escalations, periodic tasks) and one auto-roster worker (solves queued auto-roster jobs).
	@# They stop together. See docs/operations.md.
	@export NOTIFICATIONS_STREAM_URL=http://$(HOST):$(STREAM_PORT)/api/v1/notifications/stream \
	        PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)}; \
	  $(BIN)/flask notifications worker & worker=$$!; \
	  $(BIN)/flask autoroster worker & roster=$$!; \
	  GUNICORN_BIND=$(HOST):$(STREAM_PORT) $(BIN)/gunicorn -c deploy/gunicorn_stream.conf.py 'app:create_app()' & \
	  stream=$$!; trap 'kill $$worker $$roster $$stream 2>/dev/null' EXIT INT TERM; \
	  GUNICORN_BIND=$(HOST):$(PORT) $(BIN)/gunicorn -c deploy/gunicorn.conf.py 'app:create_app()'

# Three test processes on two cores: each spends about a third of its time waiting (browsers, servers, workers).
test: setup browser cluster-tools
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n 3 --durations=30

# 2 web nodes + stream service + workers behind nginx in network namespaces, on PostgreSQL (TEST_DATABASE_URL).
test-cluster: setup cluster-tools
	$(BIN)/pytest -q -p no:randomly -s tests/cluster -k postgresql

bench: setup
	$(BIN)/python -m bench

# The scale bench (bench/bench_scale.py): wrk from Debian and the hospital request mix (bench/loadmix.py) against the
# production shape on PostgreSQL (BENCH_DATABASE_URL, emptied), 1 node vs 2 behind nginx, 2,000 open streams. Figures
# are ratios to /healthz measured in the same run, with the load average. Never part of `make test`.
loadtest: setup
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python -m bench scale

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) node_modules static/vendor .stamp-* instance/shiftbridge.sqlite3*
