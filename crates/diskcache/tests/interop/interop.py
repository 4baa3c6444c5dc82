"""Both halves of the interop test, run by tests/python_interop.rs.

python interop.py write DIR         -- python-diskcache writes the shared data set
python interop.py read DIR          -- python-diskcache checks what Rust wrote
python interop.py fanout-write DIR  -- a FanoutCache(shards=4) writes SMALL
python interop.py fanout-read DIR   -- a FanoutCache(shards=4) reads what Rust wrote
python interop.py fanout8-write DIR  -- a FanoutCache with python's default shard count
                                       writes SMALL and "k<i>"
python interop.py fanout8-read DIR   -- it reads what Rust wrote, "k0" replaced
python interop.py fanout3-write DIR  -- a FanoutCache(shards=3): each shard's size_limit
                                       is the float 2**30 / 3
python interop.py fanout3-read DIR   -- it reads what Rust wrote, its limits unchanged
python interop.py minfile0-write DIR -- a Cache(disk_min_file_size=0): every bytes and
                                       str value in a file
python interop.py minfile0-read DIR  -- it reads what Rust wrote (in files too)
python interop.py pickled-write DIR  -- pickled keys and values, a pickled queue head
python interop.py pickled-read DIR   -- what is left after Rust worked around them
python interop.py together DIR      -- while Rust writes the same cache: increment
                                       "counter" and store "py-<i>", HAMMER times each,
                                       then check the cache
"""
import sys
import time

import diskcache

BIG_BYTES = bytes(range(256)) * 4096  # 1 MiB: a binary file
BIG_TEXT = "ab\u20ac" * 20000  # 60000 chars: a text file
HAMMER = 3000
SMALL = {
    b"bytes-key": b"\x00\x01\xff",
    "text-key": "h\u00e9llo w\u00f6rld",
    42: 1234567890123,
    1.5: 2.25,
    -7: -0.125,
}


def write(path):
    with diskcache.Cache(path) as cache:
        for key, value in SMALL.items():
            assert cache.set(key, value)
        cache.set("big-bytes", BIG_BYTES)
        cache.set("big-text", BIG_TEXT)
        cache.set("tagged", "v", expire=3600, tag="grp")
        cache.set("expired", 1, expire=0.05)
        cache.push("q1", prefix="jobs")
        cache.push("q2", prefix="jobs")
        cache.set("pickled", (1, 2))
        time.sleep(0.1)


def read(path):
    with diskcache.Cache(path) as cache:
        for key, value in SMALL.items():
            got = cache.get(key)
            assert got == value and type(got) is type(value), (key, got)
        assert cache.get("big-bytes") == BIG_BYTES
        assert cache.get("big-text") == BIG_TEXT
        assert cache.get("streamed") == b"s" * 100000
        value, expire, tag = cache.get("tagged", expire_time=True, tag=True)
        assert value == "v" and tag == "grp", (value, tag)
        assert expire > time.time() + 3000, expire
        assert cache.get("expired") is None
        assert cache.pull(prefix="jobs") == ("jobs-500000000000000", "q1")
        assert cache.incr("counter") == 11
        warnings = cache.check()
        assert warnings == [], warnings
        assert cache.evict("grp") == 1
        # A limit Rust changed while open; one Python changes back.
        assert cache.size_limit == 123456789, cache.size_limit
        cache.reset("cull_limit", 7)
        # Python writes into the directory Rust made; Rust reads it back.
        cache.set("from-python", "ok")


def fanout_write(path):
    with diskcache.FanoutCache(path, shards=4) as cache:
        for key, value in SMALL.items():
            assert cache.set(key, value)
        for i in range(100):
            assert cache.set("k%d" % i, i)


def fanout_read(path):
    with diskcache.FanoutCache(path, shards=4) as cache:
        for i in range(100):
            assert cache.get("rust-%d" % i) == i, i
            assert cache.get(i) == "int %d" % i, i
        assert cache.get("from-python") == "ok"


def fanout8_write(path):
    with diskcache.FanoutCache(path) as cache:
        assert len(cache._shards) == 8
        for key, value in SMALL.items():
            assert cache.set(key, value)
        for i in range(100):
            assert cache.set("k%d" % i, i)


def fanout8_read(path):
    with diskcache.FanoutCache(path) as cache:
        for key, value in SMALL.items():
            assert cache.get(key) == value, key
        assert cache.get("k0") == "from rust", cache.get("k0")
        for i in range(1, 100):
            assert cache.get("k%d" % i) == i, i
        for i in range(40):
            assert cache.get("rust-%d" % i) == i, i
        # One row per key: Rust replaced python's "k0" where it was.
        assert len(cache) == len(SMALL) + 100 + 40, len(cache)


def fanout3_write(path):
    with diskcache.FanoutCache(path, shards=3) as cache:
        assert all(s.size_limit == 2**30 / 3 for s in cache._shards)
        for i in range(60):
            assert cache.set("k%d" % i, i)


def fanout3_read(path):
    with diskcache.FanoutCache(path, shards=3) as cache:
        for shard in cache._shards:
            stored = shard._sql(
                "SELECT value FROM Settings WHERE key = 'size_limit'"
            ).fetchone()[0]
            assert stored == 2**30 / 3, stored
        for i in range(60):
            assert cache.get("k%d" % i) == i, i
        for i in range(30):
            assert cache.get("rust-%d" % i) == "r%d" % i, i
        assert len(cache) == 90, len(cache)


def modes(cache):
    """{key: (mode, has a file)} of every row."""
    rows = cache._sql("SELECT key, mode, filename FROM Cache").fetchall()
    return {key: (mode, filename is not None) for key, mode, filename in rows}


def minfile0_write(path):
    with diskcache.Cache(path, disk_min_file_size=0) as cache:
        cache.set("b", b"xy")
        cache.set("empty", b"")
        cache.set("t", "t\u00e9xt")
        cache.set("i", 7)
        cache.set("f", 0.5)
        got = modes(cache)
        assert got["b"] == (2, True) and got["empty"] == (2, True), got
        assert got["t"] == (3, True) and got["i"] == (1, False), got


def minfile0_read(path):
    with diskcache.Cache(path) as cache:
        assert cache.disk_min_file_size == 0, cache.disk_min_file_size
        assert cache.get("rust-b") == b"rb"
        assert cache.get("rust-empty") == b""
        assert cache.get("rust-t") == "r\u00e9"
        assert cache.get("rust-i") == 9
        got = modes(cache)
        assert got["rust-b"] == (2, True), got
        assert got["rust-empty"] == (2, True), got
        assert got["rust-t"] == (3, True), got
        assert got["rust-i"] == (1, False), got
        assert cache.get("b") == b"xy" and cache.get("t") == "t\u00e9xt"
        assert cache.check() == []


def pickled_write(path):
    with diskcache.Cache(path) as cache:
        cache.set((1, 2), "tuple key")
        cache.set(("x",), {"a": 1})
        cache.set("plain", 1)
        cache.set("pickled-value", [1, 2, 3])
        cache.push(("a", 1), prefix="jobs")
        cache.push("after", prefix="jobs")
        cache.push({"n": 1})
        cache.push(5)


def pickled_read(path):
    with diskcache.Cache(path) as cache:
        assert cache.get((1, 2)) == "tuple key"
        assert cache.get(("x",)) is None, "Rust deleted it"
        assert cache.get("pickled-value") == [1, 2, 3]
        assert cache.pull(prefix="jobs") == ("jobs-500000000000001", "after")
        assert cache.pull(prefix="jobs") == (None, None)
        assert cache.peek() == (500000000000000, {"n": 1})
        assert cache.get("from-rust") == "ok"


def together(path):
    with diskcache.Cache(path) as cache:
        for i in range(HAMMER):
            cache.incr("counter", 1, default=0)
            assert cache.set("py-%d" % i, i)


def bump(path):
    with diskcache.Cache(path) as cache:
        assert cache.incr("shared") > 0
        cache.set("python-text", "p%d" % cache.get("shared"))


def check_clean(path):
    with diskcache.Cache(path) as cache:
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cache.check()
        assert not caught, [str(w.message) for w in caught]


if __name__ == "__main__":
    commands = {
        "write": write,
        "read": read,
        "fanout-write": fanout_write,
        "fanout-read": fanout_read,
        "fanout8-write": fanout8_write,
        "fanout8-read": fanout8_read,
        "fanout3-write": fanout3_write,
        "fanout3-read": fanout3_read,
        "minfile0-write": minfile0_write,
        "minfile0-read": minfile0_read,
        "pickled-write": pickled_write,
        "pickled-read": pickled_read,
        "together": together,
        "bump": bump,
        "check": check_clean,
    }
    commands[sys.argv[1]](sys.argv[2])
