"""Four processes count on one shared Value and report through one Queue: the program
written for the standard library's multiprocessing, with its import line changed.

    python python/examples/counter.py            # strato's objects
    python python/examples/counter.py --stdlib   # the standard library's, for comparison
"""

import sys

if "--stdlib" in sys.argv:
    import multiprocessing
else:
    import strato.multiprocessing as multiprocessing


def work(counter, done, n):
    for _ in range(n):
        with counter.get_lock():
            counter.value += 1
    done.put(n)


def main():
    ctx = multiprocessing.get_context("spawn")
    counter = ctx.Value("i", 0)
    done = ctx.Queue()
    children = [ctx.Process(target=work, args=(counter, done, 250)) for _ in range(4)]
    for child in children:
        child.start()
    reported = sum(done.get() for _ in children)
    for child in children:
        child.join()
    print(f"counted {counter.value} of {reported}")


if __name__ == "__main__":
    main()
