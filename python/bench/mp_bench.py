"""The Python group of ``strato-bench``: the same operations on ``strato.multiprocessing``
and on the standard library's ``multiprocessing``, one implementation per run.

    python python/bench/mp_bench.py --impl strato|stdlib [--quick]

Prints one JSON object of metrics (microseconds unless the name says otherwise):
``map_overhead_us`` (a ``Pool(2).map`` of 1,000 no-ops, chunksize 1, per item),
``queue_rt_1k_us`` and ``pipe_rt_1k_us`` (a 1 KiB message to an echoing process and back,
the median round trip), ``pipe_rt_1m_ms`` (1 MiB), ``barrier_2_us`` and ``barrier_8_us`` (one crossing of 2 or 8 processes), and
``counter_8x1000_ms`` (8 processes each adding 1 to a ``Value`` under its lock 1,000 times).
``strato-bench`` runs it twice and reports the two side by side.
"""

import argparse
import json
import statistics
import sys
import time


def noop(x):
    return x


def echo_queue(inbox, outbox, n):
    for _ in range(n):
        outbox.put(inbox.get())


def echo_pipe(conn, n):
    for _ in range(n):
        conn.send_bytes(conn.recv_bytes())


def cross(barrier, n):
    for _ in range(n):
        barrier.wait()


def count(value, n):
    for _ in range(n):
        with value.get_lock():
            value.value += 1


def round_trip(mp, payload, n, kind):
    """Seconds per round trip of ``payload`` to an echoing process."""
    if kind == "queue":
        inbox, outbox = mp.Queue(), mp.Queue()
        child = mp.Process(target=echo_queue, args=(inbox, outbox, n + 1))
        send, receive = inbox.put, outbox.get
    else:
        ours, theirs = mp.Pipe()
        child = mp.Process(target=echo_pipe, args=(theirs, n + 1))
        send, receive = ours.send_bytes, ours.recv_bytes
    child.start()
    send(payload)
    receive()  # the child is up
    times = []
    for _ in range(n):
        started = time.perf_counter()
        send(payload)
        receive()
        times.append(time.perf_counter() - started)
    child.join()
    return statistics.median(times)


def barrier_crossing(mp, parties, n):
    barrier = mp.Barrier(parties)
    children = [mp.Process(target=cross, args=(barrier, n + 1)) for _ in range(parties - 1)]
    for child in children:
        child.start()
    barrier.wait()  # everyone is up
    started = time.perf_counter()
    for _ in range(n):
        barrier.wait()
    elapsed = time.perf_counter() - started
    for child in children:
        child.join()
    return elapsed / n


def counter(mp, processes, n):
    value = mp.Value("i", 0)
    children = [mp.Process(target=count, args=(value, n)) for _ in range(processes)]
    started = time.perf_counter()
    for child in children:
        child.start()
    for child in children:
        child.join()
    elapsed = time.perf_counter() - started
    assert value.value == processes * n, value.value
    return elapsed


def map_overhead(mp, items):
    with mp.Pool(2) as pool:
        pool.map(noop, range(10), chunksize=1)  # the workers are up
        started = time.perf_counter()
        pool.map(noop, range(items), chunksize=1)
        return (time.perf_counter() - started) / items


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=["strato", "stdlib"], required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated metric names (all by default)")
    args = parser.parse_args()
    if args.impl == "strato":
        import strato.multiprocessing as mp
    else:
        import multiprocessing as mp
    n = 50 if args.quick else 500
    measures = {
        "map_overhead_us": lambda: map_overhead(mp, 1000) * 1e6,
        "queue_rt_1k_us": lambda: round_trip(mp, b"x" * 1024, n, "queue") * 1e6,
        "pipe_rt_1k_us": lambda: round_trip(mp, b"x" * 1024, n, "pipe") * 1e6,
        "pipe_rt_1m_ms": lambda: round_trip(mp, b"x" * (1 << 20), max(5, n // 10), "pipe") * 1e3,
        "barrier_2_us": lambda: barrier_crossing(mp, 2, n) * 1e6,
        "barrier_8_us": lambda: barrier_crossing(mp, 8, max(5, n // 5)) * 1e6,
        "counter_8x1000_ms": lambda: counter(mp, 8, 1000) * 1e3,
    }
    wanted = args.only.split(",") if args.only else list(measures)
    unknown = [name for name in wanted if name not in measures]
    if unknown:
        parser.error(f"unknown metrics {unknown}; known: {', '.join(measures)}")
    json.dump({name: measures[name]() for name in wanted}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
