"""What a search tries: candidates drawn from the spec's space, and successive-halving rungs.

Successive halving (Jamieson & Talwalkar, 2016): every candidate first trains for a small fraction of
its epochs; each rung keeps the best ``1/eta`` and multiplies the fraction by ``eta`` up to 1.

Carrying over: a search of a larger dataset size can take the best candidates of the smaller size's
search instead of drawing its own (``search.carry``); :func:`ranking` orders a finished search's
candidates for that (the last rung first, then by CV accuracy).
"""
from __future__ import annotations

import math

import numpy as np


def draw_candidates(space: dict[str, list], n: int, seed: int) -> list[dict]:
    """``n`` distinct combinations of ``space``'s values drawn with ``seed`` (all of them if fewer exist).

    An empty space gives one empty candidate: the family's settings as the spec gives them.
    """
    names = sorted(space)
    sizes = [len(space[name]) for name in names]
    total = math.prod(sizes)
    picks = np.random.default_rng(seed).choice(total, size=min(n, total), replace=False)
    out = []
    for pick in picks.tolist():
        combo = {}
        for name, size in zip(reversed(names), reversed(sizes)):
            pick, digit = divmod(pick, size)
            combo[name] = space[name][digit]
        out.append(dict(sorted(combo.items())))
    return out


def rungs(halving: bool, eta: int, min_fraction: float, n_candidates: int) -> list[tuple[float, int]]:
    """(fraction of each candidate's epochs, candidates trained) per rung; one full rung without halving.

    A rung that would train as many candidates as the next one is left out: it could not drop any.
    """
    if not halving:
        return [(1.0, n_candidates)]
    fractions, f = [], min_fraction
    while f < 1.0 - 1e-9:
        fractions.append(f)
        f *= eta
    fractions.append(1.0)
    plan = [(f, max(1, math.ceil(n_candidates / eta ** r))) for r, f in enumerate(fractions)]
    return [rung for rung, after in zip(plan, [*plan[1:], None]) if after is None or after[1] < rung[1]]


def ranking(reached: dict[int, tuple[int, float]]) -> list[int]:
    """Candidates best first, from ``{candidate: (last rung reached, CV accuracy there)}``."""
    return sorted(reached, key=lambda c: (-reached[c][0], -reached[c][1], c))
