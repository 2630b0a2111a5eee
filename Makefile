# Each target bootstraps .venv itself: python3 and make are all a fresh machine needs.
# An install is redone only when pyproject.toml is newer than its stamp.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-bench: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[bench,test]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/govgrid demo

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

bench: $(VENV)/.installed-bench
	$(VENV)/bin/govgrid bench quick --out bench-results

clean:
	rm -rf $(VENV) bench-results .pytest_cache
