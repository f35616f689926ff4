# Two commands: `make run` serves the demo shop, `make test` runs every test.
# Both set up what they need first (virtual environment, translations, database).

PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 5000
FAKE_PLATFORMS_PORT ?= 5001
WORKERS ?= 2
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
PO_FILES := $(wildcard translations/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)

.PHONY: run test setup test-setup translations migrate lint extract-messages clean

run: setup migrate
	@$(FLASK) demo-data --if-empty
	@$(FLASK) sync connect-demo-shops --url http://127.0.0.1:$(FAKE_PLATFORMS_PORT)
	@echo ""
	@echo "  After-sales desk: http://$(HOST):$(PORT)/"
	@$(FLASK) demo-logins
	@echo ""
	@# Beside gunicorn, stopped with it: the scheduler (the day's review list, the summary, retries, marketplace
	@# sync) and the demo's fake marketplace platforms, which the demo shops are connected to.
	$(FLASK) sync fake-platforms --port $(FAKE_PLATFORMS_PORT) & fakes=$$!; \
	$(FLASK) scheduler & scheduler=$$!; \
	trap 'kill $$scheduler $$fakes 2>/dev/null; wait $$scheduler $$fakes 2>/dev/null' EXIT INT TERM; \
	BIND=$(HOST):$(PORT) WEB_CONCURRENCY=$(WORKERS) $(BIN)/gunicorn -c deploy/gunicorn.conf.py app:app

test: test-setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.installed translations

test-setup: setup $(VENV)/.installed-dev system-packages

# A fresh Debian machine may lack the venv module; install it when we are root.
$(VENV)/bin/python:
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

# Browser tests drive Debian's Chromium (Playwright cannot download its own here); the shared rate-limit tests
# start a real Redis server (tests/auth/test_shared_limits.py).
system-packages:
	@missing=""; \
	[ -n "$(CHROMIUM)" ] || missing="$$missing chromium"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "Install first: sudo apt-get install$$missing" >&2; exit 1; fi; fi

translations: $(MO_FILES)

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po | $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@ -l $*

migrate: setup
	$(FLASK) db upgrade

# For developers: refresh the catalogues after changing UI text, then translate zh.
extract-messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k N_ --no-location --sort-output \
	  --ignore-dirs=".venv migrations tests bench" -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --ignore-obsolete

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(MO_FILES)
