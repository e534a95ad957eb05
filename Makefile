# The two commands a new user needs: `make run` and `make test`.
# Both create .venv and install what they need on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
HOST   ?= 127.0.0.1

.PHONY: run test bench bench-burst bench-instructions soak check clean redis-server qr-test-tools wrk

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install when the project's metadata changes. `make run` installs only what the bot needs;
# `make test` adds the test extra (pytest, ruff, Playwright, zxing-cpp, cairosvg, ...).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	@echo "Starting the keyword coupon bot on http://$(HOST):$(PORT)"
	@echo "  text it a keyword:  curl -s http://$(HOST):$(PORT)/sms -d MessageSid=SM00000000000000000000000000000001 -d AccountSid=AC00000000000000000000000000000000 --data-urlencode From=+15551234567 --data-urlencode To=+15005550006 -d Body=SAVE"
	@echo "  or in a process of its own (its own embedded store, not this server's):  $(BIN)/bot simulate --from +15551234567 SAVE"
	$(BIN)/gunicorn --workers 1 --threads 8 --bind $(HOST):$(PORT) --access-logfile - wsgi:app

# The test suite needs a real redis-server binary; it starts its own on a free port.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "redis-server is missing: installing Debian's redis-server"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "redis-server is missing and cannot be installed here: install Redis (apt-get install redis-server) and re-run" >&2; exit 1; \
	  fi; }
	@redis-server --version

# The poster and landing-page tests need zbar's zbarimg (a second QR decoder), poppler's
# pdffonts (every font of a PDF poster embedded), Debian's chromium (driven by Playwright
# through its executable path: never `playwright install`) and libcairo2 (cairosvg
# rasterises SVG posters); tests/test_readme.py runs the README's curl examples with curl.
qr-test-tools:
	@missing=""; \
	command -v zbarimg >/dev/null 2>&1 || missing="$$missing zbar-tools"; \
	command -v pdffonts >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ldconfig -p 2>/dev/null | grep -q 'libcairo\.so\.2' || missing="$$missing libcairo2"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's$$missing for the QR tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing for the QR tests:$$missing; install them (apt-get install$$missing) and re-run" >&2; exit 1; \
	  fi; \
	fi

test: $(VENV)/.installed-test redis-server qr-test-tools
	$(BIN)/ruff check bot tests bench wsgi.py gunicorn.conf.py
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks: loopback only, bounded counts, each compares against a baseline in the same run.
# `python -m bench`: the bot under the Procfile's gunicorn against three floors (two round trips,
# one round trip, bare Flask), then the accept spread without and with --reuse-port, with Debian's
# wrk (installed with apt-get when missing and root); bench/redis_cost.py: Redis round trips per
# webhook path; bench/receipts.py: status callbacks per second; bench/outbound.py: 20,000 birthday
# texts at send_rate 100 through two workers killed twice, planning and importing 1,000,000
# customers; bench/broadcast.py: a 50,000-recipient broadcast at send_rate 100 and its status callbacks (about
# ten minutes). About eight minutes on 2 cores without bench/outbound.py, which adds about twelve.
# In process: `python bench/hot_path.py`.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "wrk is missing: installing Debian's wrk"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else \
	    echo "wrk is missing and cannot be installed here: install it (apt-get install wrk) and re-run" >&2; exit 1; \
	  fi; }

bench: $(VENV)/.installed-test redis-server wrk
	$(BIN)/python -m bench
	$(BIN)/python bench/redis_cost.py
	$(BIN)/python -m bench.receipts
	$(BIN)/python bench/outbound.py
	$(BIN)/python bench/broadcast.py

# Burst: 600 first-time texters in 20 s against a 1,200 calls/min Talon.One budget, bot + worker under
# gunicorn (loopback): reply times, one code each, the last code's time beside the physical bound.
bench-burst: $(VENV)/.installed-test redis-server
	$(BIN)/python bench/burst.py $(BURST_ARGS)

# Instructions per repeat texter's webhook under callgrind, the bot against its floors in process: the
# figure this VM's drifting timings cannot move (about five minutes on 2 cores; Debian's valgrind).
bench-instructions: $(VENV)/.installed-test redis-server
	@command -v valgrind >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "valgrind is missing: installing Debian's valgrind"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; \
	  else \
	    echo "valgrind is missing and cannot be installed here: install it (apt-get install valgrind) and re-run" >&2; \
	    exit 1; \
	  fi; }
	$(BIN)/python bench/instructions.py

# Soak: 1,000 mixed texts with injected Talon.One faults, bot + worker under gunicorn (loopback).
soak: $(VENV)/.installed-test redis-server
	$(BIN)/python bench/soak.py

check: $(VENV)/.installed
	$(BIN)/bot check

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
