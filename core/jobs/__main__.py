"""``python -m core.jobs supervise JOB_DIR``: how the queue starts a job (:func:`core.jobs.queue.supervise`).

Not a user command: ``python -m core jobs ...`` is (:mod:`core.jobs.commands`).
"""
import sys
from pathlib import Path

from core.jobs.queue import supervise

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "supervise":
        sys.exit("usage: python -m core.jobs supervise JOB_DIR")
    sys.exit(supervise(Path(sys.argv[2])))
