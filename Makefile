# FMA Genre Lab. `make demo` and `make test` are the two quick-start commands (see README.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DATA   ?= data/demo
PORT   ?= 8501

.PHONY: setup demo data features dashboard mlflow test bench clean-demo

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# The main job: demo data, then features and the demo studies as queued background jobs (they run
# one after another and resume if interrupted), then the dashboard, which shows their progress.
demo: data
	$(PY) -m core jobs submit-command --once "features $(DATA)" -- $(PY) -m core features --data $(DATA)
	$(PY) -m core jobs submit --once experiments/demo_mlp.toml --data $(DATA)
	$(PY) -m core jobs submit --once experiments/demo_cnn.toml --data $(DATA)
	@echo "Demo studies queued (python -m core jobs list); dashboard on http://127.0.0.1:$(PORT)"
	$(MAKE) --no-print-directory dashboard

data: setup
	$(PY) -m core data demo --dest $(DATA)

features: data
	$(PY) -m core features --data $(DATA)

dashboard: setup
	$(PY) -m streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port $(PORT) --server.headless true

# MLflow UI on the same store, one worker (answers in seconds instead of ~30 s with four).
mlflow: setup
	$(PY) -m mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --host 127.0.0.1 --port 5000 --workers 1

test: setup
	$(PY) -m pytest

bench: setup
	mkdir -p bench/results
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean-demo:
	rm -rf $(DATA)
