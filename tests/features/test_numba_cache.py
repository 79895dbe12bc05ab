"""numba's cache under concurrency: two saves of different signatures at once keep index and code matched."""
from __future__ import annotations

import threading
import time

from core import numba_cache


def test_simultaneous_saves_of_two_signatures_each_load_their_own_code(tmp_path, monkeypatch):
    from numba.core import caching

    numba_cache.install()
    real_load_index = caching.IndexDataCacheFile._load_index

    def slow_load_index(self):  # both savers read the index before either writes it back
        index = real_load_index(self)
        time.sleep(0.3)
        return index

    monkeypatch.setattr(caching.IndexDataCacheFile, "_load_index", slow_load_index)
    cache = caching.IndexDataCacheFile(str(tmp_path), "kernel-12.py311", source_stamp=(1.0, 100))
    savers = [threading.Thread(target=cache.save, args=(key, f"machine code for {key}"))
              for key in ("(int64,)", "(float32,)")]
    for saver in savers:
        saver.start()
    for saver in savers:
        saver.join()
    assert cache.load("(int64,)") == "machine code for (int64,)"
    assert cache.load("(float32,)") == "machine code for (float32,)"
    assert sorted(p.name for p in tmp_path.glob("*.nbc")) == ["kernel-12.py311.1.nbc", "kernel-12.py311.2.nbc"]


def test_installing_twice_wraps_once():
    from numba.core import caching

    numba_cache.install()
    save = caching.IndexDataCacheFile.save
    numba_cache.install()
    assert caching.IndexDataCacheFile.save is save and save.__wrapped__.__name__ == "save"


KERNEL = '''
import numba

@numba.njit(cache=True)
def kernel(x):
    total = 0.0
    for i in range(x.shape[0]):
        total += x[i] * x[i] - i
    return total
'''

COMPILER = r'''
import json, sys, time
import numpy as np
from core import numba_cache
numba_cache.install()
sys.path.insert(0, sys.argv[1])
import kernel_module
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # start together
kernel_module.kernel(np.arange(5.0))
stats = kernel_module.kernel.stats
print(json.dumps({"hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())}))
'''


def test_two_processes_starting_together_compile_a_cached_function_once(tmp_path):
    """The second waits for the first and loads its code: no two copies of one kernel in the cache."""
    import json
    import os
    import subprocess
    import sys

    from core.config import PROJECT_ROOT

    (tmp_path / "kernel_module.py").write_text(KERNEL)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(PROJECT_ROOT)}
    start = str(time.time() + 4)
    procs = [subprocess.Popen([sys.executable, "-c", COMPILER, str(tmp_path), start], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted((r["misses"], r["hits"]) for r in results) == [(0, 1), (1, 0)]
