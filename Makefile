# The two commands:  `make demo`  and  `make test`.
# Both create the virtual environment first (all dependencies from pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,distributed,persistence,codecs]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/llmrad demo

# lint first (seconds), then the suite: ruff lint, ruff format, numpydoc validation
# of the public API (tests/test_docstrings.py reads [tool.numpydoc_validation])
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_docstrings.py

test: lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
