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
