"""Both halves of the interop test, run by tests/python_interop.rs.

python interop.py write DIR         -- python-diskcache writes the shared data set
python interop.py read DIR          -- python-diskcache checks what Rust wrote
python interop.py fanout-write DIR  -- a FanoutCache(shards=4) writes SMALL
python interop.py fanout-read DIR   -- a FanoutCache(shards=4) reads what Rust wrote
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
        "together": together,
        "bump": bump,
        "check": check_clean,
    }
    commands[sys.argv[1]](sys.argv[2])
