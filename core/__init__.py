"""FMA Genre Lab: music genre classification on the FMA dataset.

Rooms in layers (:data:`LAYERS`, bottom first): a room imports only rooms of lower layers, a test walks
the imports to check it. The command-line modules (``__main__``, ``*/commands.py``) and the dashboard sit
on top and call into these; nothing here imports the dashboard.
"""
from core import quiet as _quiet

#: Bottom first; each room imports only rooms of layers below its own (tests/test_architecture.py).
LAYERS = (
    ("errors",),
    ("config", "files", "devices", "stats", "processes", "quiet", "numba_cache"),  # plain helpers
    ("data",),              # FMA's files read exactly, selections, folder collections, fetching
    ("demo",),              # the synthetic FMA-shaped demo root
    ("audio",),             # any audio file → mono float32
    ("models",),            # estimators and pretrained networks; nothing about MLflow
    ("features",),          # per-track inputs computed and cached: FMA's features, log-mels, embeddings
    ("tracking", "jobs"),   # MLflow store and runs; the background job queue
    ("registry", "mlflow_ui"),  # registered versions, cards, aliases; the MLflow UI server
    ("serving",),           # the registered models that answer, and the predictor that asks them
    ("inputs",),            # input kinds, one module each: cached data, how models on them answer, names
    ("study",),             # spec → plan → folds → refit → test → register
    ("report",),            # a study's results as tables, charts and one HTML file
    ("__main__",),          # the command line
)

_quiet.install_if_inherited()  # a worker of a quiet CLI keeps TensorFlow's start-up lines off the terminal
