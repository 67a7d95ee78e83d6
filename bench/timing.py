"""Side-by-side timing shared by the benchmark groups.

Each round times every variant once, one after the other (the order rotates each round;
round -1 is a warm-up and is dropped), and a ratio is the median over rounds of the two
variants' times in the same round, so that load from other processes, which comes and
goes, cancels out.
"""

import gc
import statistics
import time


def timed(fn) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def rotations(variants: list[str], rounds: int):
    """(round, variants in this round's order); round -1 is the warm-up."""
    for r in range(-1, rounds):
        k = r % len(variants)
        yield r, variants[k:] + variants[:k]


def summary(per_round: list[float]) -> dict:
    return {
        "median": statistics.median(per_round),
        "min": min(per_round),
        "rounds": per_round,
    }


def paired(a: dict, b: dict) -> float:
    """Median over rounds of a's time / b's time in the same round."""
    return statistics.median(
        x / y for x, y in zip(a["rounds"], b["rounds"], strict=True)
    )
