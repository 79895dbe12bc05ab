"""Run a few lines with plain MLflow in a process that cannot import the checkout: what users get elsewhere.

:func:`run_outside_checkout` runs ``python -I -B`` in a folder of its own: neither the working directory
nor PYTHONPATH is on sys.path, and the venv's editable install of the project is switched off, so
``core`` can only come from a model's own code (``-B``: no .pyc files
written into the store). The lines see ``request`` (the given dict), ``mlflow`` and ``pd`` with the
tracking URI set to ``request["store"]``, and fill ``result``; the answer adds ``result["core"]``, the
file ``core`` was imported from once a model was loaded.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_HEAD = r"""
import json, sys
# A machine without this project: `make setup` installs the checkout into the venv (an editable
# install's import hooks), so take those out first.
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path_hooks[:] = [h for h in sys.path_hooks if not getattr(h, "__module__", "").startswith("__editable__")]
sys.path_importer_cache.clear()
{before}
try:
    import core
    sys.exit(f"the checkout is importable: {{core.__file__}}")
except ImportError:
    pass
import mlflow
import pandas as pd

request = json.load(open(sys.argv[1]))
mlflow.set_tracking_uri(request["store"])
result = {{}}
"""
_TAIL = r"""
import core
result["core"] = core.__file__
print(json.dumps(result))
"""


def run_outside_checkout(lines: str, request: dict, folder: Path, *, before: str = "", timeout: int = 600) -> dict:
    """``result`` of ``lines`` run as described above; ``before`` runs first (e.g. hiding a package)."""
    (folder / "request.json").write_text(json.dumps(request))
    script = _HEAD.format(before=before) + lines + _TAIL
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-I", "-B", "-c", script, str(folder / "request.json")], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
