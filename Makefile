# Shiftbridge: `make run` (app + demo data on SQLite) and `make test` (whole suite). Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app:create_app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: setup run test bench lint migrate-check browser clean

setup: .stamp-venv .stamp-assets

.stamp-venv: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

.stamp-assets: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
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

run: setup
	$(BIN)/flask db upgrade heads
	$(BIN)/flask demo seed
	@# VAPID keys for Web Push, once, in instance/ (never committed): the demo nurse can turn on notifications.
	$(BIN)/flask push keys
	@# One outbox worker beside the web server (sends texts, takes escalation steps); it stops with the server.
	@$(BIN)/flask notifications worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/flask run --host $(HOST) --port $(PORT)

test: setup browser
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n 2

bench: setup
	$(BIN)/python -m bench

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) node_modules static/vendor .stamp-* instance/shiftbridge.sqlite3*
