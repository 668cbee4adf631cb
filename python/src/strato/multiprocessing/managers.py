"""Managers (``multiprocessing.managers``): objects that live in a manager process, whose
methods run there, reached through proxies from any process.

A manager is a Python process (started as a strato ``Process``, or any process that calls
``get_server().serve_forever()``) with a ``connection.Listener`` at its ``address``. Each
client thread makes one ``connection.Client`` connection to it; the manager serves each connection in a thread of its own, as the
standard library's does, so a method that blocks holds up only its caller. Every message
goes through the engine, so a manager and its clients need not share a machine: they need
only reach the same state.

``SyncManager`` (what ``Manager()`` starts) hosts ``dict``, ``list``, ``Namespace``,
``Value`` and ``Array`` in the manager. Its queues, locks, events, conditions, semaphores and
barriers are the engine's own objects (``strato.multiprocessing``'s), which every process
reaches without the manager; its ``Pool`` is a strato ``Pool``.
"""

import array
import itertools
import os
import threading
import traceback
import weakref

from .. import _native
from . import connection, pool, queues, synchronize
from ._handle import _share_state

__all__ = [
    "BaseManager",
    "SyncManager",
    "BaseProxy",
    "Token",
    "RemoteError",
    "Namespace",
    "Value",
    "Array",
    "MakeProxyType",
    "AutoProxy",
]


class RemoteError(Exception):
    """A failure in the manager that is not the method's own exception (an outcome that
    could not be pickled, an unknown object or method)."""

    def __str__(self):
        return "\n" + "-" * 75 + "\n" + str(self.args[0]) + "-" * 75


class Token:
    """Names one object in one manager: its ``typeid``, the manager's ``address`` and its
    ``id`` there."""

    __slots__ = ("typeid", "address", "id")

    def __init__(self, typeid, address, id):
        self.typeid, self.address, self.id = typeid, address, id

    def __getstate__(self):
        return (self.typeid, self.address, self.id)

    def __setstate__(self, state):
        self.typeid, self.address, self.id = state

    def __repr__(self):
        return f"Token(typeid={self.typeid!r}, address={self.address!r}, id={self.id!r})"


def public_methods(obj):
    """The names of ``obj``'s methods a proxy exposes by default."""
    return [
        name
        for name in dir(obj)
        if not name.startswith("_") and callable(getattr(obj, name, None))
    ]


# ---- the manager's side


class Server:
    """The manager's side: the objects, and the threads serving connections to them."""

    def __init__(self, registry, address, listen=True):
        self.registry = registry
        self.address = address
        self.listener = connection.Listener(address) if listen else None
        self.objects = {}
        self.refcounts = {}
        self.lock = threading.Lock()
        self.ids = itertools.count(1)

    def serve_forever(self, ready=None):
        """Serves connections until the manager is shut down (``ready``, an engine
        ``Event``, is set once connections are taken)."""
        if self.listener is None:
            self.listener = connection.Listener(self.address)
        if ready is not None:
            ready.set()
        try:
            while True:
                try:
                    conn = self.listener.accept()
                except OSError:
                    return
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()
        finally:
            self.listener.close()

    def _serve(self, conn):
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            if request[0] == "decref":
                self._decref(request[1])
                continue
            reply = self._answer(request)
            try:
                conn.send(reply)
            except (EOFError, OSError):
                return
            except Exception:  # noqa: BLE001 - an outcome that cannot be pickled
                conn.send(("error", RemoteError(traceback.format_exc())))

    def _answer(self, request):
        try:
            kind = request[0]
            if kind == "call":
                return self._call(*request[1:])
            if kind == "create":
                try:
                    return ("proxy", *self._create(*request[1:]))
                except Exception:  # noqa: BLE001 - as the standard library: a RemoteError
                    return ("error", RemoteError(traceback.format_exc()))
            if kind == "count":
                with self.lock:
                    return ("ok", len(self.objects))
            if kind == "debug":
                with self.lock:
                    lines = [f"  {ident}: refcount={self.refcounts[ident]}    {obj!r}"[:75]
                             for ident, (obj, _, _) in self.objects.items()]
                return ("ok", "\n".join(lines))
            if kind == "incref":
                self._incref(request[1])
                return ("ok", None)
            return ("error", RemoteError(f"unknown request {kind!r}"))
        except Exception as e:  # noqa: BLE001 - the method's own exception goes back
            return ("raise", e)

    def _create(self, typeid, args, kwargs):
        callable_, exposed, _, _ = self.registry[typeid]
        return self._keep(typeid, callable_(*args, **kwargs), exposed)

    def _keep(self, typeid, obj, exposed):
        ident = f"{next(self.ids):x}"
        exposed = tuple(exposed) if exposed is not None else tuple(public_methods(obj))
        with self.lock:
            self.objects[ident] = (obj, exposed, typeid)
            self.refcounts[ident] = 1
        return Token(typeid, self.address, ident), exposed

    def _call(self, ident, method, args, kwargs):
        try:
            obj, exposed, typeid = self.objects[ident]
        except KeyError:
            raise RemoteError(f"the manager has no object {ident!r} (already released?)")
        if method == "#GETVALUE":
            return ("ok", obj)
        if method in ("__repr__", "__str__"):
            return ("ok", getattr(obj, method)())
        if method not in exposed:
            raise RemoteError(
                f"AttributeError: method {method!r} of {type(obj)!r} object is not in "
                f"exposed={exposed!r}\n"
            )
        result = getattr(obj, method)(*args, **kwargs)
        method_to_typeid = self.registry[typeid][2] or {}
        if method in method_to_typeid:
            new_typeid = method_to_typeid[method]
            exposed = self.registry[new_typeid][1] if new_typeid in self.registry else None
            return ("proxy", *self._keep(new_typeid, result, exposed))
        if isinstance(result, _VIEWS):
            result = list(result)
        return ("ok", result)

    def _incref(self, ident):
        with self.lock:
            if ident not in self.refcounts:
                raise RemoteError(f"the manager has no object {ident!r}")
            self.refcounts[ident] += 1

    def _decref(self, idents):
        with self.lock:
            for ident in idents:
                left = self.refcounts.get(ident, 0) - 1
                if left > 0:
                    self.refcounts[ident] = left
                else:
                    self.refcounts.pop(ident, None)
                    self.objects.pop(ident, None)


_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))


def _run_server(registry, address, initializer, initargs, ready):
    """The body of a manager process."""
    if initializer is not None:
        initializer(*initargs)
    Server(registry, address).serve_forever(ready)


# ---- the clients' side


class _Connections(threading.local):
    """This thread's connection to each manager, by address."""

    def __init__(self):
        self.by_address = {}


_connections = _Connections()
#: Objects whose proxies were collected, to release at the next call: address -> ids.
_released = {}
_released_lock = threading.Lock()


def _connection(address):
    conn = _connections.by_address.get(address)
    if conn is None:
        conn = connection.Client(address)
        _connections.by_address[address] = conn
    with _released_lock:
        released = _released.pop(address, None)
    if released:
        conn.send(("decref", released))
    return conn


def _request(address, *request):
    conn = _connection(address)
    try:
        conn.send(request)
        kind, *answer = conn.recv()
    except (EOFError, BrokenPipeError) as e:
        _connections.by_address.pop(address, None)
        raise EOFError(f"the manager at {address!r} is gone") from e
    if kind == "ok":
        return answer[0]
    if kind == "proxy":
        return _NewProxy(*answer)
    raise answer[0]


class _NewProxy:
    """An answer that is a new object in the manager: its token and exposed methods."""

    def __init__(self, token, exposed):
        self.token, self.exposed = token, exposed


def _release_later(address, ident):
    with _released_lock:
        _released.setdefault(address, []).append(ident)


class BaseProxy:
    """A reference to an object in a manager: ``_callmethod`` runs one of its methods
    there. Subclasses list the methods in ``_exposed_`` (and map methods that return new
    managed objects to their typeid in ``_method_to_typeid_``)."""

    _exposed_ = None
    _method_to_typeid_ = None

    def __init__(self, token, serializer="pickle", manager=None, authkey=None,
                 exposed=None, incref=True, manager_owned=False):
        self._token = token
        self._manager = manager
        self._registry = manager._registry if manager is not None else None
        if exposed is not None:
            self._exposed_ = tuple(exposed)
        weakref.finalize(self, _release_later, token.address, token.id)

    def _callmethod(self, methodname, args=(), kwds={}):
        """Runs ``methodname(*args, **kwds)`` on the object in the manager."""
        answer = _request(self._token.address, "call", self._token.id, methodname, args, kwds)
        if isinstance(answer, _NewProxy):
            return _proxy_for(answer.token, answer.exposed, self._registry, self._manager)
        return answer

    def _getvalue(self):
        """A copy of the object."""
        return self._callmethod("#GETVALUE")

    def __reduce__(self):
        # The copy in flight holds a reference of its own (released when it is collected).
        _request(self._token.address, "incref", self._token.id)
        if getattr(type(self), "_auto", False):
            return (_rebuild_auto, (self._token, self._exposed_))
        return (_rebuild, (type(self), self._token, self._exposed_))

    def __deepcopy__(self, memo):
        return self._getvalue()

    def __repr__(self):
        return (f"<{type(self).__name__} object, typeid {self._token.typeid!r} "
                f"at {id(self):#x}>")

    def __str__(self):
        try:
            return self._callmethod("__repr__")
        except Exception:  # noqa: BLE001 - as the standard library
            return repr(self)[:-1] + "; '__str__()' failed>"


def _rebuild(proxytype, token, exposed):
    return proxytype(token, exposed=exposed)


def _rebuild_auto(token, exposed):
    return AutoProxy(token, exposed=exposed)


def _proxy_for(token, exposed, registry, manager):
    proxytype = None
    if registry is not None and token.typeid in registry:
        proxytype = registry[token.typeid][3]
    if proxytype is None:
        return AutoProxy(token, manager=manager, exposed=exposed)
    return proxytype(token, manager=manager, exposed=exposed)


def MakeProxyType(name, exposed, _cache={}):
    """A proxy class whose methods are ``exposed``, each run in the manager."""
    exposed = tuple(exposed)
    try:
        return _cache[(name, exposed)]
    except KeyError:
        pass
    namespace = {"_exposed_": exposed}
    for method in exposed:
        namespace[method] = _forwarder(method)
    proxytype = type(name, (BaseProxy,), namespace)
    _cache[(name, exposed)] = proxytype
    return proxytype


def _forwarder(method):
    def forward(self, *args, **kwds):
        return self._callmethod(method, args, kwds)

    forward.__name__ = method
    return forward


def AutoProxy(token, serializer="pickle", manager=None, authkey=None, exposed=None,
              incref=True, manager_owned=False):
    """A proxy for an object whose exposed methods the manager named."""
    exposed = tuple(exposed or ())
    proxytype = MakeProxyType(f"AutoProxy[{token.typeid}]", exposed)
    proxytype._auto = True
    return proxytype(token, manager=manager, exposed=exposed)


# ---- the manager object


class BaseManager:
    """A manager: ``register`` types on a subclass, then ``start()`` (or ``with``) runs the
    manager process, and each registered typeid is a method that makes an object there and
    returns its proxy.

    ``address`` names the manager on the engine (any picklable value; a fresh one if None):
    ``BaseManager(address=a).connect()`` in another process reaches the manager that
    ``get_server().serve_forever()`` or ``start()`` runs at ``a``. ``authkey`` is accepted
    and not used: the engine's own credentials guard it.
    """

    _registry = {}

    def __init__(self, address=None, authkey=None, serializer="pickle", ctx=None, *,
                 shutdown_timeout=1.0):
        self._address = connection.unique_address(address)
        self._authkey = authkey
        self._process = None
        self._running = False
        self._connected = False
        self._shutdown_timeout = shutdown_timeout

    @property
    def address(self):
        return self._address

    @classmethod
    def register(cls, typeid, callable=None, proxytype=None, exposed=None,
                 method_to_typeid=None, create_method=True):
        """Adds ``typeid``: a method of the manager that makes ``callable(*args)`` in the
        manager and returns a ``proxytype`` proxy for it (an ``AutoProxy`` by default)."""
        if "_registry" not in cls.__dict__:
            cls._registry = dict(cls._registry)
        if proxytype is None:
            proxytype = AutoProxy
        exposed = exposed or getattr(proxytype, "_exposed_", None)
        method_to_typeid = method_to_typeid or getattr(proxytype, "_method_to_typeid_", None)
        if method_to_typeid:
            method_to_typeid = dict(method_to_typeid)
        cls._registry[typeid] = (callable, exposed, method_to_typeid, proxytype)
        if create_method:
            def create(self, *args, **kwds):
                return self._create(typeid, args, kwds)

            create.__name__ = typeid
            setattr(cls, typeid, create)

    def _create(self, typeid, args, kwds):
        self._check_running()
        _, _, _, proxytype = self._registry[typeid]
        if proxytype is _LOCAL:
            try:
                return self._registry[typeid][0](*args, **kwds)
            except Exception as e:  # noqa: BLE001 - as a manager's: a RemoteError
                raise RemoteError(traceback.format_exc()) from e
        new = _request(self._address, "create", typeid, args, kwds)
        return _proxy_for(new.token, new.exposed, self._registry, self)

    def _check_running(self):
        if not self._running and not self._connected:
            raise ValueError("Manager has not been started (call start() or connect())")

    def _server_registry(self):
        return {
            typeid: (callable_, exposed, method_to_typeid, None)
            for typeid, (callable_, exposed, method_to_typeid, proxytype)
            in self._registry.items()
            if proxytype is not _LOCAL
        }

    def _number_of_objects(self):
        """How many objects the manager holds."""
        return _request(self._address, "count")

    def _debug_info(self):
        """One line per object the manager holds."""
        return _request(self._address, "debug")

    def get_server(self):
        """The manager's side, to run in this process: ``get_server().serve_forever()``."""
        return Server(self._server_registry(), self._address)

    def connect(self):
        """Uses the manager already running at ``address``."""
        _connection(self._address)
        self._connected = True

    def start(self, initializer=None, initargs=()):
        """Starts the manager process."""
        if self._running:
            raise RuntimeError("Already started server")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        from .process import Process

        ready = synchronize.Event()
        self._process = Process(
            target=_run_server,
            args=(self._server_registry(), self._address, initializer, initargs, ready),
            name=f"{type(self).__name__}-{self._address}",
        )
        self._process.start()
        while not ready.wait(0.1):
            if not self._process.is_alive():
                raise RuntimeError(f"the manager process ended (exit code "
                                   f"{self._process.exitcode}) before it served")
        self._running = True

    def join(self, timeout=None):
        if self._process is not None:
            self._process.join(timeout)

    def shutdown(self):
        """Stops the manager process; its objects are gone."""
        if not self._running:
            return
        self._running = False
        connection._interrupt(self._address)
        self._process.join(self._shutdown_timeout)
        if self._process.is_alive():
            self._process.terminate()
        _connections.by_address.pop(self._address, None)

    def __enter__(self):
        if not self._running and not self._connected:
            self.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()

    def __reduce__(self):
        raise TypeError("a manager cannot be pickled; pickle its proxies or its address")


#: Marks a typeid whose objects are the engine's own, made in the calling process.
_LOCAL = object()


# ---- the types SyncManager hosts


class Namespace:
    """Attributes, as ``types.SimpleNamespace``."""

    def __init__(self, **kwds):
        self.__dict__.update(kwds)

    def __repr__(self):
        items = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if not k.startswith("_"))
        return f"Namespace({items})"


class Value:
    """One value of any picklable type (``typecode`` is kept, not enforced)."""

    def __init__(self, typecode, value, lock=True):
        self._typecode, self._value = typecode, value

    def get(self):
        return self._value

    def set(self, value):
        self._value = value

    def __repr__(self):
        return f"{type(self).__name__}({self._typecode!r}, {self._value!r})"

    value = property(get, set)


def Array(typecode, sequence, lock=True):
    return array.array(typecode, sequence)


class IteratorProxy(BaseProxy):
    _exposed_ = ("__next__", "send", "throw", "close")

    def __iter__(self):
        return self

    def __next__(self, *args):
        return self._callmethod("__next__", args)

    def send(self, *args):
        return self._callmethod("send", args)

    def throw(self, *args):
        return self._callmethod("throw", args)

    def close(self, *args):
        return self._callmethod("close", args)


class NamespaceProxy(BaseProxy):
    _exposed_ = ("__getattribute__", "__setattr__", "__delattr__")

    def __getattr__(self, key):
        if key[0] == "_":
            return object.__getattribute__(self, key)
        return object.__getattribute__(self, "_callmethod")("__getattribute__", (key,))

    def __setattr__(self, key, value):
        if key[0] == "_":
            return object.__setattr__(self, key, value)
        return object.__getattribute__(self, "_callmethod")("__setattr__", (key, value))

    def __delattr__(self, key):
        if key[0] == "_":
            return object.__delattr__(self, key)
        return object.__getattribute__(self, "_callmethod")("__delattr__", (key,))


class ValueProxy(BaseProxy):
    _exposed_ = ("get", "set")

    def get(self):
        return self._callmethod("get")

    def set(self, value):
        return self._callmethod("set", (value,))

    value = property(get, set)


BaseListProxy = MakeProxyType("BaseListProxy", (
    "__add__", "__contains__", "__delitem__", "__getitem__", "__len__", "__mul__",
    "__reversed__", "__rmul__", "__setitem__", "append", "count", "extend", "index",
    "insert", "pop", "remove", "reverse", "sort", "__imul__",
))


class ListProxy(BaseListProxy):
    """A managed ``list``; iterating it reads one item at a time (by index)."""

    def __iadd__(self, value):
        self._callmethod("extend", (value,))
        return self

    def __imul__(self, value):
        self._callmethod("__imul__", (value,))
        return self


DictProxy = MakeProxyType("DictProxy", (
    "__contains__", "__delitem__", "__getitem__", "__iter__", "__len__", "__setitem__",
    "clear", "copy", "get", "items", "keys", "pop", "popitem", "setdefault", "update",
    "values",
))
#: Iterating a managed dict iterates it in the manager, one key per call.
DictProxy._method_to_typeid_ = {"__iter__": "Iterator"}


ArrayProxy = MakeProxyType("ArrayProxy", ("__len__", "__getitem__", "__setitem__"))


class SyncManager(BaseManager):
    """What ``multiprocessing.Manager()`` starts: ``dict``, ``list``, ``Namespace``,
    ``Value`` and ``Array`` live in the manager; ``Queue``, ``JoinableQueue``, ``Lock``,
    ``RLock``, ``Semaphore``, ``BoundedSemaphore``, ``Condition``, ``Event`` and
    ``Barrier`` are the engine's objects; ``Pool`` is a strato ``Pool``."""


for _typeid, _make in [
    ("Queue", queues.Queue),
    ("JoinableQueue", queues.JoinableQueue),
    ("Event", synchronize.Event),
    ("Lock", synchronize.Lock),
    ("RLock", synchronize.RLock),
    ("Semaphore", synchronize.Semaphore),
    ("BoundedSemaphore", synchronize.BoundedSemaphore),
    ("Condition", synchronize.Condition),
    ("Barrier", synchronize.Barrier),
    ("Pool", pool.Pool),
]:
    SyncManager.register(_typeid, _make, _LOCAL)
SyncManager.register("list", list, ListProxy)
SyncManager.register("dict", dict, DictProxy)
SyncManager.register("Value", Value, ValueProxy)
SyncManager.register("Array", Array, ArrayProxy)
SyncManager.register("Namespace", Namespace, NamespaceProxy)
SyncManager.register("Iterator", proxytype=IteratorProxy, create_method=False)

del _typeid, _make
