"""A Lithops-style word count: ``map_reduce`` over a directory of text files, each cut into
chunks of whole lines, one task per chunk, and one reducer.

    python python/examples/wordcount.py [DIR]            # strato.FunctionExecutor
    python python/examples/wordcount.py [DIR] --stdlib   # concurrent.futures, same answer

Without ``DIR`` it writes a small seeded corpus to a temporary directory first.
"""

import argparse
import collections
import os
import random
import sys
import tempfile
import time

CHUNK = 16 * 1024


def count(obj):
    """A map task: the words of one chunk (strato hands it as ``obj``)."""
    return collections.Counter(obj.data_stream.read().decode().split())


def merge(results):
    """The reducer: every chunk's counts added up."""
    total = collections.Counter()
    for counts in results:
        total.update(counts)
    return total


def count_lines(lines):
    return collections.Counter(" ".join(lines).split())


def with_strato(directory):
    import strato

    with strato.FunctionExecutor() as fexec:
        futures = fexec.map_reduce(count, directory, merge, obj_chunk_size=CHUNK)
        return fexec.get_result(futures), len(futures) - 1


def with_stdlib(directory):
    from concurrent.futures import ProcessPoolExecutor

    chunks = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name)) as f:
            lines = f.read().splitlines()
        step = max(1, len(lines) // 8)
        chunks += [lines[i:i + step] for i in range(0, len(lines), step)]
    with ProcessPoolExecutor() as pool:
        return merge(pool.map(count_lines, chunks)), len(chunks)


def write_corpus(directory, files=6, lines=2000):
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(300)]
    weights = [1 / (i + 1) for i in range(len(vocabulary))]
    for n in range(files):
        with open(os.path.join(directory, f"part-{n}.txt"), "w") as f:
            for _ in range(lines):
                f.write(" ".join(rng.choices(vocabulary, weights, k=12)) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?")
    parser.add_argument("--stdlib", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.directory or scratch
        if not args.directory:
            write_corpus(directory)
        started = time.perf_counter()
        run = with_stdlib if args.stdlib else with_strato
        counts, tasks = run(directory)
    top = ", ".join(f"{w}={n}" for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
    print(f"words={sum(counts.values())} distinct={len(counts)} top: {top}")
    print(f"map tasks={tasks} elapsed={time.perf_counter() - started:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
