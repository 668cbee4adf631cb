"""Monte Carlo π on a process pool: the program written for the standard library's
multiprocessing, with its import line changed.

    python python/examples/pi.py                # strato's Pool
    python python/examples/pi.py --stdlib       # the standard library's, for comparison
    python python/examples/pi.py --tasks 64 --points 200000

Each task draws its points from its own seeded generator, so both print the same estimate.
"""

import argparse
import random
import sys
import time

if "--stdlib" in sys.argv:
    import multiprocessing
else:
    import strato.multiprocessing as multiprocessing


def inside(task):
    seed, points = task
    rng = random.Random(seed)
    return sum(rng.random() ** 2 + rng.random() ** 2 <= 1.0 for _ in range(points))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--stdlib", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    with multiprocessing.Pool() as pool:
        hits = sum(pool.map(inside, [(seed, args.points) for seed in range(args.tasks)]))
    pi = 4 * hits / (args.tasks * args.points)
    print(f"pi ≈ {pi:.6f}")
    print(f"tasks={args.tasks} elapsed={time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    main()
