"""Evolution strategies on a process pool: a pool per generation evaluates a population of
perturbed candidates; a shared ``Value`` (given to the workers by the pool's initializer)
counts evaluations, and the workers record every score in a ``Manager().dict()``. Written
for the standard library's multiprocessing, with its import line changed.

    python python/examples/evolution.py             # strato
    python python/examples/evolution.py --stdlib    # the standard library, for comparison

The noise comes from seeded generators, so both print the same result.
"""

import argparse
import random
import sys
import time

if "--stdlib" in sys.argv:
    import multiprocessing
else:
    import strato.multiprocessing as multiprocessing

TARGET = [0.5, -1.25, 2.0, 0.75, -0.5, 1.5, -2.0, 0.25]


def fitness(candidate):
    return -sum((c - t) ** 2 for c, t in zip(candidate, TARGET))


def share(counter):
    """The pool's initializer: the evaluation counter, for this worker's tasks."""
    global evaluations
    evaluations = counter


def evaluate(job):
    """One candidate: the parent plus seeded noise; its score (also recorded in the shared
    dict) and its noise."""
    parent, key, sigma, scores = job
    rng = random.Random(key[0] * 1000 + key[1])
    noise = [rng.gauss(0.0, 1.0) for _ in parent]
    score = fitness([p + sigma * n for p, n in zip(parent, noise)])
    scores[key] = score
    with evaluations.get_lock():
        evaluations.value += 1
    return score, noise


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=12)
    parser.add_argument("--population", type=int, default=24)
    parser.add_argument("--stdlib", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    sigma, rate = 0.1, 0.05
    parent = [0.0] * len(TARGET)
    evaluations = multiprocessing.Value("i", 0)
    with multiprocessing.Manager() as manager:
        all_scores = manager.dict()
        for generation in range(args.generations):
            jobs = [(parent, (generation, i), sigma, all_scores)
                    for i in range(args.population)]
            with multiprocessing.Pool(2, initializer=share, initargs=(evaluations,)) as pool:
                scored = pool.map(evaluate, jobs)
            scores = [score for score, _ in scored]
            mean = sum(scores) / len(scores)
            spread = (sum((s - mean) ** 2 for s in scores) / len(scores)) ** 0.5 or 1.0
            step = [0.0] * len(parent)
            for score, noise in scored:
                for k, n in enumerate(noise):
                    step[k] += (score - mean) / spread * n
            parent = [p + rate / (args.population * sigma) * s for p, s in zip(parent, step)]
        recorded = all_scores.copy()
        history = [round(max(v for (g, _), v in recorded.items() if g == generation), 6)
                   for generation in range(args.generations)]
    print(f"final fitness {fitness(parent):.6f} after {evaluations.value} evaluations, "
          f"{len(recorded)} recorded")
    print(f"best per generation {history}")
    print(f"elapsed={time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    main()
