"""numba's cache under concurrency: two saves of different signatures at once keep index and code matched."""
from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

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


GUFUNC = '''
import numba

@numba.guvectorize(["void(float32[:], float32[:])", "void(float64[:], float64[:])"], "(n)->(n)", cache=True)
def running_sum(x, out):
    total = 0.0
    for i in range(x.shape[0]):
        total += x[i]
        out[i] = total
'''

GUFUNC_USER = r'''
import sys
import numpy as np
if sys.argv[2] == "locked":
    from core import numba_cache
    numba_cache.install()
import numba
for _ in range(int(sys.argv[3])):  # number this process's functions differently
    numba.njit(lambda x: x + 1)(1.0)
sys.path.insert(0, sys.argv[1])
import gufunc_module
for dtype in ("float32", "float64"):
    assert gufunc_module.running_sum(np.arange(4, dtype=dtype)).tolist() == [0, 1, 3, 6]
'''


def _gufunc_user(module_dir: Path, cache: Path, mode: str, burn: int = 0) -> int:
    import os
    import subprocess
    import sys

    from core.config import PROJECT_ROOT

    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run([sys.executable, "-c", GUFUNC_USER, str(module_dir), mode, str(burn)], env=env,
                          capture_output=True, timeout=120).returncode


def test_a_gufunc_wrapper_cached_by_another_compile_is_rebuilt_not_called(tmp_path):
    """Kernel from one process, wrapper from another that numbered functions differently: numba alone
    calls a null pointer (SIGSEGV, every later process); with the fix the wrapper is rebuilt and saved."""
    (tmp_path / "gufunc_module.py").write_text(GUFUNC)
    first, second, mixed = tmp_path / "first", tmp_path / "second", tmp_path / "mixed"
    assert _gufunc_user(tmp_path, first, "plain", burn=0) == 0
    assert _gufunc_user(tmp_path, second, "plain", burn=7) == 0
    shutil.copytree(first, mixed)
    for wrapper in second.rglob("guf-*"):  # the wrappers' index and code of the other compile
        shutil.copy(wrapper, next(mixed.rglob(wrapper.parent.name)) / wrapper.name)
    assert _gufunc_user(tmp_path, mixed, "plain") == -11  # the hazard is real: a segmentation fault
    assert _gufunc_user(tmp_path, mixed, "locked", burn=3) == 0
    assert _gufunc_user(tmp_path, mixed, "plain") == 0  # and the cache was repaired for everyone


# The reliability issue's recipe: two processes start together on a cold cache, one with float32 input and
# one with float64, through librosa's estimate_tuning, whose kernels include guvectorize functions (a
# kernel and a separately cached wrapper each). The second process first compiles a few throwaway functions, so numba numbers its
# kernels differently, as any two processes with different histories do: a wrapper of one process beside
# a kernel of the other is then always a mismatch, never a lucky coincidence of names.
RACER = r'''
import sys, time
import numpy as np
if sys.argv[3] == "locked":
    import core.audio  # installs core.numba_cache, as every project process does
import numba
for _ in range(int(sys.argv[4])):
    numba.njit(lambda x: x + 1)(1.0)
import librosa
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
for dtype in sys.argv[1].split(","):
    y = np.random.default_rng(0).standard_normal(22050 * 2).astype(dtype)
    librosa.estimate_tuning(y=y, sr=22050)
'''


def _run_racers(cache: Path, specs: list[tuple[str, str, int]], start_in: float = 0.0) -> list[int]:
    """Run one process per ``(dtypes, mode, ids_to_burn)`` at once on ``cache``; their return codes."""
    import os
    import subprocess
    import sys

    from core.config import PROJECT_ROOT

    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(PROJECT_ROOT)}
    start = str(time.time() + start_in)
    procs = [subprocess.Popen([sys.executable, "-W", "ignore", "-c", RACER, dtypes, start, mode, str(burn)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for dtypes, mode, burn in specs]
    return [proc.wait(timeout=300) for proc in procs]


def _drop_kernels(cache: Path, names: tuple[str, ...]) -> int:
    """Delete the cached kernels (and guvectorize wrappers) of the functions ``names``; how many files."""
    files = [p for p in cache.rglob("*") if p.is_file() and any(f".{name}-" in p.name for name in names)]
    for path in files:
        path.unlink()
    return len(files)


def test_the_recipe_ten_times_never_leaves_a_cache_that_crashes(tmp_path):
    """Each trial starts from a cache where librosa's kernels are compiled but not the one that crashed,
    pitch's parabolic interpolation (a guvectorize function, two signatures): compiling all of librosa
    from nothing costs ~16 s a process. Afterwards a process without the fix loads both dtypes.

    Without the fix, 3 trials in 10 left a crashing cache here, so ten trials catch its return with
    a chance of 1 - 0.7**10 = 97 %; twenty (99.9 %) cost another minute of every run of the suite."""
    warm = tmp_path / "warm"
    assert _run_racers(warm, [("float32,float64", "locked", 0)]) == [0]
    assert _drop_kernels(warm, ("_pi_wrapper",)) >= 6  # index and two signatures' code, kernel and wrapper
    crashes = []
    for trial in range(10):
        cache = tmp_path / f"trial{trial}"
        shutil.copytree(warm, cache)
        racers = _run_racers(cache, [("float32", "locked", 0), ("float64", "locked", 7)], start_in=1.0)
        assert racers == [0, 0], f"trial {trial}: a racer failed {racers}"
        crashes += [(trial, rc) for rc in _run_racers(cache, [("float32,float64", "plain", 0)]) if rc]
        shutil.rmtree(cache)
    assert crashes == []
