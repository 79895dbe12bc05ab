"""TensorFlow's native start-up lines, kept off the terminal unless asked for.

Importing TensorFlow prints, from C++ and before its logging is set up, lines such as ``oneDNN
custom operations are on`` and ``Could not find cuda drivers``; ``TF_CPP_MIN_LOG_LEVEL`` cannot stop
them (it is read only once the logging starts). On a machine without a GPU, the first use then logs
``E0000 ... failed call to cuInit``: an error-level line that a user reads as a failure.

:func:`install` keeps both away: the import of ``tensorflow`` runs with file descriptor 2 pointed at
``/dev/null`` (Python's own errors are exceptions, raised after it is restored), and
``TF_CPP_MIN_LOG_LEVEL=3`` hides the native log lines after it. Processes this one spawns (fit and
feature workers) inherit the setting through the environment and install it when they import
:mod:`core`. ``--verbose`` or ``GENRELAB_VERBOSE=1`` shows everything.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from contextlib import contextmanager

#: Set in the environment by :func:`install`, so spawned processes stay quiet too.
QUIET_ENV = "GENRELAB_QUIET_TENSORFLOW"


def install_if_inherited() -> None:
    """Install in a process started by a quiet one (called when :mod:`core` is imported)."""
    if os.environ.get(QUIET_ENV) == "1":
        install()


def install() -> None:
    """Quiet TensorFlow's start-up in this process and the ones it starts (idempotent)."""
    os.environ[QUIET_ENV] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorflowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorflowImport())


def uninstall() -> None:
    """Undo :func:`install` (``--verbose`` in a process that inherited the quiet setting)."""
    if os.environ.pop(QUIET_ENV, None) == "1" and os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "3":
        del os.environ["TF_CPP_MIN_LOG_LEVEL"]
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorflowImport)]


@contextmanager
def native_stderr_silenced():
    """File descriptor 2 points at /dev/null inside the block (C++ writes bypass ``sys.stderr``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietTensorflowImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual and runs its module body with native stderr silenced."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the real finders locate it
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_quietly(module):
            with native_stderr_silenced():
                exec_module(module)

        spec.loader.exec_module = exec_quietly
        return spec
