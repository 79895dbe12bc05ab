# FMA Genre Lab. `make demo` and `make test` are the two quick-start commands (see README.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DATA   ?= data/demo
PORT   ?= 8501

.PHONY: setup demo data features dashboard mlflow test lint bench clean-demo

setup: $(VENV)/.installed

# musicnn's wheel is installed for its pretrained checkpoints only (core/models/musicnn.py never
# imports its code); --no-deps skips its numpy<1.17 pin. The checkout itself is installed editable, so
# `core` imports in every process of the venv, wherever it starts (Dask workers, notebooks). Listing the Makefile as a prerequisite
# makes an existing .venv pick up a new install line.
$(VENV)/.installed: requirements.txt pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps musicnn==0.1.0
	$(PY) -m pip install -qq --no-deps -e .
	touch $@

# The main job, as queued background jobs that run one after another and resume if interrupted: the
# demo data first, then the pretrained zero-shot model (real music out of the box), features, the demo
# studies, musicnn embeddings and the embeddings study. The dashboard starts at once and shows their
# progress (bench/bench_demo.py times it all).
demo: setup
	$(PY) -m core jobs submit-command --once "demo data $(DATA)" -- $(PY) -m core data demo --dest $(DATA)
	$(PY) -m core jobs submit-command --once "zero-shot model" -- $(PY) -m core models register-zeroshot --if-missing
	$(PY) -m core jobs submit-command --once "features $(DATA)" -- $(PY) -m core features --data $(DATA)
	$(PY) -m core jobs submit --once experiments/demo_mlp.toml --data $(DATA)
	$(PY) -m core jobs submit --once experiments/demo_cnn.toml --data $(DATA)
	$(PY) -m core jobs submit-command --once "embeddings $(DATA)" -- $(PY) -m core embeddings --data $(DATA)
	$(PY) -m core jobs submit --once experiments/demo_embeddings.toml --data $(DATA)
	@echo "Demo studies queued (python -m core jobs list); dashboard on http://127.0.0.1:$(PORT)"
	$(MAKE) --no-print-directory dashboard

data: setup
	$(PY) -m core data demo --dest $(DATA)

features: data
	$(PY) -m core features --data $(DATA)

dashboard: setup
	$(PY) -m streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port $(PORT) --server.headless true

# MLflow UI on the same store (MLFLOW_TRACKING_URI, else mlruns/mlflow.db), one worker (answers in seconds
# instead of ~30 s with four). Prints the experiment list's URL and, per study, a URL that opens its
# training runs (MLflow's UI otherwise opens a fresh browser on its GenAI overview). MLFLOW_PORT=5001 moves it.
mlflow: setup
	$(PY) -m core mlflow-ui --port $(or $(MLFLOW_PORT),5000)

test: setup
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .

bench: setup
	mkdir -p bench/results
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean-demo:
	rm -rf $(DATA)

# One registered model over HTTP (POST /invocations, GET /health) on 127.0.0.1: MODEL=NAME serves its
# champion, MODEL=NAME/VERSION that version (README: "Registered models").
.PHONY: serve
serve: setup
	@test -n "$(MODEL)" || { echo "usage: make serve MODEL=NAME[/VERSION] [SERVE_PORT=5001]"; exit 2; }
	$(PY) -m core models serve $(MODEL) --port $(or $(SERVE_PORT),5001)
