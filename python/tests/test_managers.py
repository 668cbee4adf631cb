"""strato.multiprocessing's managers: objects in a manager process, reached through proxies
over the engine from the driver, pool workers and unrelated processes."""

import gc
import unittest

import strato.multiprocessing as mp
from strato.multiprocessing import synchronize
from strato.multiprocessing.managers import BaseManager, BaseProxy, IteratorProxy, RemoteError

from test_multiprocessing import run_child


def record(d, l, ns, i):
    d[i] = i * i
    l.append(i)
    ns.last = i


class Counter:
    def __init__(self, start=0):
        self.n = start

    def add(self, k):
        self.n += k
        return self.n

    def fail(self):
        raise ValueError("counter refuses")

    def numbers(self):
        return iter(range(self.n))

    def unpicklable(self):
        return lambda: None


class Tracked:
    """Sets the engine event named ``flag`` when the manager drops it."""

    def __init__(self, flag):
        self.flag = flag

    def __del__(self):
        synchronize.Event._named(self.flag).set()

    def ping(self):
        return "pong"


class CounterProxy(BaseProxy):
    _exposed_ = ("add",)

    def add(self, k):
        return self._callmethod("add", (k,))


class CounterManager(BaseManager):
    pass


CounterManager.register("Counter", Counter, method_to_typeid={"numbers": "Iterator"})
CounterManager.register("ProxiedCounter", Counter, CounterProxy)
CounterManager.register("Tracked", Tracked)
CounterManager.register("Iterator", proxytype=IteratorProxy, create_method=False)


class SyncManagerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.manager = mp.Manager()

    @classmethod
    def tearDownClass(cls):
        cls.manager.shutdown()

    def test_dict_list_and_namespace_are_shared_with_pool_workers(self):
        d, l, ns = self.manager.dict(), self.manager.list([0]), self.manager.Namespace(last=0)
        with mp.Pool(2) as pool:
            pool.starmap(record, [(d, l, ns, i) for i in range(1, 6)])
        self.assertEqual(sorted(d.items()), [(i, i * i) for i in range(1, 6)])
        self.assertEqual(sorted(l), [0, 1, 2, 3, 4, 5])
        self.assertIn(ns.last, range(1, 6))

    def test_dict_methods_and_errors_as_a_dict(self):
        d = self.manager.dict(a=1)
        d.update({"b": 2})
        self.assertEqual((len(d), "a" in d, d.get("z", 0)), (2, True, 0))
        self.assertEqual(sorted(d.keys()), ["a", "b"])
        self.assertEqual(sorted(d), ["a", "b"])
        self.assertEqual(d.setdefault("c", 3), 3)
        self.assertEqual(d.pop("c"), 3)
        with self.assertRaises(KeyError):
            d["missing"]
        del d["a"]
        self.assertEqual(d.copy(), {"b": 2})
        self.assertEqual(str(d), "{'b': 2}")

    def test_list_methods_as_a_list(self):
        l = self.manager.list([3, 1, 2])
        l.sort()
        l += [4]
        l.insert(0, 0)
        self.assertEqual(l[:], [0, 1, 2, 3, 4])
        self.assertEqual((l[-1], len(l), l.index(2), list(l)), (4, 5, 2, [0, 1, 2, 3, 4]))
        with self.assertRaises(IndexError):
            l[10]

    def test_value_and_array(self):
        v = self.manager.Value("i", 1)
        v.value += 41
        self.assertEqual(v.get(), 42)
        a = self.manager.Array("d", [1.0, 2.0])
        a[1] = 5.0
        self.assertEqual((len(a), a[1]), (2, 5.0))

    def test_a_proxy_inside_a_managed_object_stays_a_proxy(self):
        d, inner = self.manager.dict(), self.manager.list()
        d["inner"] = inner
        d["inner"].append("x")
        self.assertEqual(inner[:], ["x"])

    def test_synchronization_objects_are_the_engines(self):
        q, lock, event = self.manager.Queue(), self.manager.Lock(), self.manager.Event()
        q.put("item")
        self.assertEqual(q.get(timeout=5), "item")
        with lock:
            self.assertFalse(lock.acquire(timeout=0.01))
        event.set()
        self.assertTrue(event.is_set())

    def test_an_unrelated_process_uses_a_pickled_proxy(self):
        d = self.manager.dict()
        run_child("d, = args\nd['from'] = 'child'", d)
        self.assertEqual(d["from"], "child")


class BaseManagerTest(unittest.TestCase):
    def test_a_registered_type_runs_its_methods_in_the_manager(self):
        with CounterManager() as manager:
            counter = manager.Counter(10)
            self.assertEqual(counter.add(5), 15)
            with self.assertRaises(ValueError) as caught:
                counter.fail()
            self.assertIn("counter refuses", str(caught.exception))
            self.assertEqual(list(counter.numbers()), list(range(15)))
            with self.assertRaises(RemoteError):
                counter.unpicklable()
            proxied = manager.ProxiedCounter()
            self.assertEqual(proxied.add(2), 2)
            self.assertFalse(hasattr(proxied, "fail"))

    def test_a_dropped_proxy_releases_its_object_in_the_manager(self):
        flag = synchronize.Event()
        with CounterManager() as manager:
            tracked = manager.Tracked(flag.name)
            self.assertEqual(tracked.ping(), "pong")
            del tracked
            gc.collect()
            manager.Counter()  # the next call carries the release
            self.assertTrue(flag.wait(10))

    def test_a_manager_served_elsewhere_is_reached_by_its_address(self):
        address, ready = ("127.0.0.1", 50000, self.id()), mp.Event()
        with self.assertRaises(ConnectionRefusedError):
            CounterManager(address=address).connect()
        server = run_child(
            "from test_managers import CounterManager\n"
            "address, ready = args\n"
            "server = CounterManager(address=address).get_server()\n"
            "ready.set()\n"
            "server.serve_forever()\n",
            address,
            ready,
            wait=False,
        )
        try:
            self.assertTrue(ready.wait(30))
            client = CounterManager(address=address)
            client.connect()
            self.assertEqual(client.Counter(1).add(1), 2)
        finally:
            server.kill()
            server.communicate(timeout=30)

    def test_after_shutdown_proxies_fail_and_new_calls_are_refused(self):
        manager = CounterManager()
        manager.start()
        counter = manager.Counter()
        manager.shutdown()
        with self.assertRaises((EOFError, ConnectionRefusedError)):
            counter.add(1)
        with self.assertRaises(ValueError):
            manager.Counter()

    def test_an_unstarted_manager_refuses(self):
        with self.assertRaises(ValueError):
            CounterManager().Counter()


if __name__ == "__main__":
    unittest.main()
