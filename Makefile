# The two commands: `make run` (set up, ingest the bundled corpus, start the chat page) and
# `make test` (the same set-up, then the test suite and the eval gate).
VENV ?= .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/corpusqa
STAMP := $(VENV)/.installed-stamp
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1
export NO_MKDOCS_2_WARNING := 1

# The eval gate in `make test` also reruns every corpus on JITTER simulated machines (docs/evaluation.md,
# "The same figures on any machine"); one rerun keeps it to a few minutes on 2 cores.
JITTER ?= 1

.PHONY: run test install lock docs training-data chromium ocr ingest lint eval bench bench-full clean

run: ocr ingest
	$(CLI) ui

test: install chromium ocr ingest docs
	$(PY) -m pytest
	$(CLI) eval --split test --jitter $(JITTER)
	$(PY) -m evals.bench_grounding --runs 10 --replies tests/fixtures/llm_replies/*.jsonl
	$(CLI) bench --quick

install: $(STAMP)

# torch first: the pinned 2.13.0 is a local CPU wheel; any other spec pulls a multi-GB CUDA build.
# Then every package, transitive ones included, at the version requirements.lock pins (what CI tested),
# and the project itself without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Re-resolve the lock after changing pyproject.toml's dependencies (docs/development.md).
lock: install
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --find-links /opt/wheels \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-emit-find-links \
		--quiet -o requirements.lock

# Browser tests drive Debian's Chromium (Playwright never downloads a browser here).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Debian's chromium for the browser tests..." >&2; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; \
	fi

# OCR of scanned pages and image files: Debian's Tesseract (English) and poppler's pdftoppm (docs/documents.md).
ocr:
	@if [ ! -x /usr/bin/tesseract ] || [ ! -x /usr/bin/pdftoppm ] || [ ! -d /usr/share/tesseract-ocr/5/tessdata ] \
		|| [ ! -f /usr/share/tesseract-ocr/5/tessdata/eng.traineddata ]; then \
		echo "Installing Debian's tesseract-ocr, tesseract-ocr-eng and poppler-utils for OCR..." >&2; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq tesseract-ocr tesseract-ocr-eng poppler-utils >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq tesseract-ocr tesseract-ocr-eng poppler-utils >/dev/null; fi; \
	fi

ingest: install
	$(CLI) ingest data/corpus

lint: install
	$(VENV)/bin/ruff check corpusqa ingest rag evals ui train tests
	$(VENV)/bin/mypy corpusqa

eval: ingest
	$(CLI) eval --split all

bench: ingest
	$(CLI) bench --quick

bench-full: ingest
	$(CLI) bench

clean:
	rm -rf .corpusqa

# The docs site from docs/ (mkdocs.yml); --strict fails on a broken link or a page missing from nav.
docs: install
	$(VENV)/bin/mkdocs build --strict --quiet

# Training data for the trained reader (docs/trained-reader.md): installs Debian's documentation packages
# as root or through sudo, then rebuilds train/data/pairs.jsonl. Never part of make test.
training-data: install
	$(PY) -m train.data
