"""FMA Genre Lab: music genre classification on the FMA dataset.

Rooms in layers (:data:`LAYERS`, bottom first): a room imports only rooms of lower layers, a test walks
the imports to check it. The command-line modules (``__main__``, ``*/commands.py``) and the dashboard sit
on top and call into these; nothing here imports the dashboard.
"""
from core import quiet as _quiet

#: Bottom first; each room imports only rooms of layers below its own (tests/test_architecture.py).
LAYERS = (
    ("errors",),
    ("config", "files", "devices", "stats", "calibration", "processes", "workers", "quiet", "numba_cache"),  # plain helpers
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

#: Imported inside the functions that use them, never at a module's top: each costs 0.2 to 5 s to import
#: (measured: tensorflow/keras 4-5 s, mlflow 1.3 s, scikit-learn 1.1 s, scipy.signal 0.8 s, streamlit 0.5 s,
#: distributed 0.4 s, numba 0.3 s, sqlalchemy 0.2 s) and most commands never touch them. Every other import
#: sits at the top of its module; a project module is imported inside a function only when its own top
#: imports one of these (the command-line modules aside: they load a subcommand's module when it runs, so
#: ``--help`` stays instant). tests/test_architecture.py checks both rules.
DEFERRED = ("tensorflow", "keras", "mlflow", "sklearn", "scipy", "numba", "distributed", "dask", "sqlalchemy",
            "joblib", "streamlit")

_quiet.install_if_inherited()  # a worker of a quiet CLI keeps TensorFlow's start-up lines off the terminal
