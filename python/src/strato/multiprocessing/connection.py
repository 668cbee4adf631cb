"""Connections between processes (``multiprocessing.connection``'s ``Pipe``, ``Connection``
and ``wait``), made of channels on the engine.

Each direction of a pipe is one channel. A connection holds the receiving end of one and the
sending end of the other; the engine counts ends, so when every copy of one connection is
closed (or its process died), the other side's ``recv`` raises ``EOFError`` once the
messages already sent are read, and its ``send`` raises ``BrokenPipeError``.
"""

import hashlib
import itertools
import os
import pickle
import time

from .. import _native
from ._handle import _share_state

__all__ = ["Connection", "Pipe", "wait", "Listener", "Client", "families"]

#: The address families the standard library names; here every address is a name on the
#: engine, whatever its family.
families = ["AF_INET", "AF_UNIX"]

_EOF = object()


def _rebuild(rx_name, tx_name, readable, writable):
    rx = _native.Channel.adopt(rx_name, "receiver") if rx_name else None
    tx = _native.Channel.adopt(tx_name, "sender") if tx_name else None
    return Connection(rx, tx, readable, writable)


class Connection:
    """One end of a ``Pipe``: ``send``/``recv`` pickled objects, ``send_bytes``/
    ``recv_bytes`` raw messages, ``poll`` for one to read.

    It pickles by reference (into a ``Process``'s arguments, through a ``Queue``): the
    copy is another end of the same connection, valid in any process.
    """

    def __init__(self, rx, tx, readable=True, writable=True):
        self._rx, self._tx = rx, tx
        self._readable, self._writable = readable, writable
        self._ready = []

    # -- state

    @property
    def closed(self):
        return self._rx is None and self._tx is None

    @property
    def readable(self):
        return self._readable

    @property
    def writable(self):
        return self._writable

    def _check_closed(self):
        if self.closed:
            raise OSError("handle is closed")

    def _check_readable(self):
        self._check_closed()
        if not self._readable:
            raise OSError("connection is write-only")

    def _check_writable(self):
        self._check_closed()
        if not self._writable:
            raise OSError("connection is read-only")

    def close(self):
        """Drops this end: once every copy of it is closed, the other end sees EOF."""
        self._rx = self._tx = None
        self._ready.clear()

    def fileno(self):
        raise OSError("a strato connection is not a file descriptor; use strato's wait()")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        self._check_closed()
        if self._ready:
            raise pickle.PicklingError(
                "a connection with a polled, unread message cannot be pickled; recv it first"
            )
        rx = self._rx.lend() if self._rx is not None else None
        tx = self._tx.lend() if self._tx is not None else None
        return (_rebuild, (rx, tx, self._readable, self._writable))

    def __repr__(self):
        names = [c.name for c in (self._rx, self._tx) if c is not None]
        return f"<strato Connection {' '.join(names) or 'closed'}>"

    # -- sending

    def send_bytes(self, buf, offset=0, size=None):
        """Sends ``buf[offset:offset + size]`` (bytes-like) as one message."""
        self._check_writable()
        view = memoryview(buf).cast("B")
        n = len(view)
        if offset < 0:
            raise ValueError("offset is negative")
        if n < offset:
            raise ValueError("buffer length < offset")
        if size is None:
            size = n - offset
        elif size < 0:
            raise ValueError("size is negative")
        elif offset + size > n:
            raise ValueError("buffer length < offset + size")
        self._send(bytes(view[offset : offset + size]))

    def send(self, obj):
        """Sends a picklable object."""
        self._check_writable()
        self._send(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))

    def _send(self, data):
        if not self._tx.send(data):
            raise BrokenPipeError(32, "Broken pipe: the other end is closed")

    # -- receiving

    def _take(self):
        if self._ready:
            item = self._ready.pop(0)
        else:
            item = self._receive(True, None)
        if item is _EOF:
            raise EOFError
        return item

    def _wait_descriptor(self):
        """The descriptor that becomes readable when a message (or EOF) can be read, if
        this process has the pipe's socket; None if its messages go through the engine."""
        if self._readable and self._rx is not None and not self._ready:
            return self._rx.wait_descriptor()
        return None

    def _receive(self, block, timeout):
        try:
            return self._rx.recv(block, timeout)
        except EOFError:
            return _EOF

    def recv_bytes(self, maxlength=None):
        """The next message's bytes, waiting for one; ``EOFError`` once the other end
        closed and nothing is left."""
        self._check_readable()
        if maxlength is not None and maxlength < 0:
            raise ValueError("negative maxlength")
        data = self._take()
        if maxlength is not None and len(data) > maxlength:
            self.close()
            raise OSError("bad message length")
        return data

    def recv_bytes_into(self, buf, offset=0):
        """Reads the next message into ``buf`` at ``offset``; its length.
        ``BufferTooShort`` (holding the message) if it does not fit."""
        self._check_readable()
        view = memoryview(buf).cast("B")
        if offset < 0 or offset > len(view):
            raise ValueError("offset too large" if offset > 0 else "negative offset")
        data = self._take()
        if offset + len(data) > len(view):
            from multiprocessing import BufferTooShort

            raise BufferTooShort(data)
        view[offset : offset + len(data)] = data
        return len(data)

    def recv(self):
        """The next object sent, waiting for one."""
        self._check_readable()
        return pickle.loads(self._take())

    def poll(self, timeout=0.0):
        """Whether a message (or EOF) is there to read, waiting at most ``timeout`` seconds
        (forever if None)."""
        self._check_readable()
        if self._ready:
            return True
        if timeout is not None and timeout <= 0:
            item = self._receive(False, None)
        else:
            item = self._receive(True, timeout)
        if item is None:
            return False
        self._ready.append(item)
        return True


def Pipe(duplex=True):
    """A pair of connected ``Connection``s: both ends send and receive, or (``duplex``
    False) the first only receives and the second only sends."""
    _share_state()
    forward = _native.Channel.open("sender")
    forward_rx = _native.Channel.open("receiver", forward.name)
    if not duplex:
        return (
            Connection(forward_rx, None, readable=True, writable=False),
            Connection(None, forward, readable=False, writable=True),
        )
    backward = _native.Channel.open("sender")
    backward_rx = _native.Channel.open("receiver", backward.name)
    return Connection(backward_rx, forward), Connection(forward_rx, backward)


def wait(object_list, timeout=None):
    """The connections of ``object_list`` that have a message (or EOF) to read, waiting at
    most ``timeout`` seconds (forever if None) for one.

    Connections whose pipes have their socket in this process (on the state server's
    machine) are waited on together with ``select``. Otherwise one connection waits on the
    engine, and several are polled in turn, each waiting on the engine for a short slice,
    since the engine has no wait on several objects.
    """
    objects = list(object_list)
    ready = [o for o in objects if o.poll(0)]
    if ready or not objects or (timeout is not None and timeout <= 0):
        return ready
    deadline = None if timeout is None else time.monotonic() + timeout
    descriptors = [getattr(o, "_wait_descriptor", lambda: None)() for o in objects]
    if len(objects) > 1 and all(d is not None for d in descriptors):
        return _select(objects, descriptors, deadline)
    if len(objects) == 1:
        return objects if objects[0].poll(timeout) else []
    for o in itertools.cycle(objects):
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return []
        if o.poll(0.01 if left is None else min(0.01, left)):
            return [o] + [other for other in objects if other is not o and other.poll(0)]


def _select(objects, descriptors, deadline):
    """``wait`` on connections that each have their pipe's socket here."""
    import select

    poller = select.poll()
    for d in set(descriptors):
        poller.register(d, select.POLLIN)
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        events = poller.poll(None if left is None else left * 1000)
        readable = {d for d, _ in events}
        ready = [o for o, d in zip(objects, descriptors) if d in readable and o.poll(0)]
        if ready or (left is not None and left <= 0):
            return ready


_listener_ids = itertools.count(1)


def unique_address(address):
    """``address``, or a fresh one if it asks for any (None, or a port of 0)."""
    if address is None or (isinstance(address, tuple) and address and address[-1] == 0):
        host = address[0] if isinstance(address, tuple) else "strato"
        return (host, f"{os.getpid()}-{next(_listener_ids)}-{os.urandom(6).hex()}")
    return address


def _queue_name(address):
    digest = hashlib.sha256(repr(address).encode()).hexdigest()[:24]
    return f"py-listener-{digest}"


class Listener:
    """Takes connections made to ``address`` (any picklable value; a fresh one if None or
    a port of 0) with ``Client(address)``, from any process that reaches the state.

    ``family``, ``backlog`` and ``authkey`` are accepted and not used: an address is a name
    on the engine, whose own credentials guard it.
    """

    def __init__(self, address=None, family=None, backlog=1, authkey=None):
        from .queues import Queue

        _share_state()
        self._address = unique_address(address)
        name = _queue_name(self._address)
        if _native.Object.exists(name):
            raise OSError(98, f"Address already in use: a strato Listener is at {address!r}")
        self._queue = Queue._named(name)
        self._last_accepted = None

    @property
    def address(self):
        return self._address

    @property
    def last_accepted(self):
        return self._last_accepted

    def accept(self):
        """The next connection a ``Client`` made, waiting for one."""
        if self._queue is None:
            raise OSError("listener is closed")
        conn = self._queue.get()
        if conn is None:
            raise OSError("listener is closed")
        self._last_accepted = self._address
        return conn

    def close(self):
        """Takes no more connections (those made and not accepted are dropped)."""
        self._queue = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def Client(address, family=None, authkey=None):
    """A connection to the ``Listener`` at ``address``; ``ConnectionRefusedError`` if
    there is none."""
    from .queues import Queue

    _share_state()
    name = _queue_name(address)
    if not _native.Object.exists(name):
        raise ConnectionRefusedError(f"no strato Listener at {address!r}")
    ours, theirs = Pipe()
    Queue._named(name).put(theirs)
    theirs.close()
    return ours


def _interrupt(address):
    """Makes the ``accept`` waiting at ``address`` raise ``OSError``."""
    from .queues import Queue

    name = _queue_name(address)
    if _native.Object.exists(name):
        Queue._named(name).put(None)
