"""One thread per executor that calls back as groups of its tasks finish: what settles a
``ProcessPoolExecutor``'s futures and runs a ``Pool``'s callbacks, as the standard
library's result-handler thread does, instead of a thread per call."""

import threading
import traceback

#: How long the collector waits on the engine for the tasks it knows of before it takes in
#: newly watched ones (it wakes at once when it knew of none).
SLICE = 0.02


class Collector:
    """Calls ``callback()`` once every native future of a watched group is done, in the
    collector's thread (a callback that blocks holds up the later ones, as in the standard
    library)."""

    def __init__(self, executor, name):
        self._executor = executor
        self._lock = threading.Lock()
        self._groups = []  # [futures not yet seen done, callback, dropped]
        self._closed = False
        self._watched = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)
        self._thread.start()

    def watch(self, futures, callback, dropped=None):
        """Calls ``callback`` once all of ``futures`` are done, or ``dropped`` instead if
        the collector is closed with ``drop`` before."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the collector was closed")
            self._groups.append([list(futures), callback, dropped])
        self._watched.set()

    def close(self, wait=True, drop=False):
        """Stops once the groups watched are called back (or at once, dropping them, with
        ``drop``); with ``wait``, returns when it stopped."""
        with self._lock:
            self._closed = True
            dropped, self._groups = (self._groups, []) if drop else ([], self._groups)
        for _, _, on_drop in dropped:
            if on_drop is not None:
                on_drop()
        self._watched.set()
        if wait and threading.current_thread() is not self._thread:
            self._thread.join()

    def _run(self):
        while True:
            with self._lock:
                groups = list(self._groups)
                if not groups and self._closed:
                    return
                self._watched.clear()
            if not groups:
                self._watched.wait()
                continue
            # A group is done when its futures are, in any order: wait on each one's first
            # undone future only.
            heads = [group[0][0] for group in groups if group[0]]
            if heads:
                self._executor.wait(heads, "any", SLICE)
            finished = [group for group in groups if _advance(group)]
            if not finished:
                continue
            with self._lock:
                gone = {id(group) for group in finished}
                self._groups = [g for g in self._groups if id(g) not in gone]
            for _, callback, _ in finished:
                try:
                    callback()
                except Exception:  # noqa: BLE001 - reported; the later callbacks still run
                    traceback.print_exc()


def _advance(group):
    """Drops the group's leading futures that are done; whether none is left."""
    futures = group[0]
    while futures and futures[0].done():
        futures.pop(0)
    return not futures
