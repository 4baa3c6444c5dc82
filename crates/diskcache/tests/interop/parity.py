"""The python half of tests/python_parity.rs, for python-diskcache or its
maintained fork: the package is named by DISKCACHE_MODULE ("diskcache" or
"diskcache_community"), which must be importable.

python parity.py MODE DIR [OUT]

basic-write / basic-read     Cache: native values, expiry, tags, queues
fanout-write / fanout-read   FanoutCache(shards=4) (python's hash)
deque-write / deque-read     Deque
index-write / index-read     Index
json-write / json-read       JSONDisk: keys and values of every JSON type,
                             small and in files; a JSONDisk FanoutCache
json-level DIR               prints zlib.compress of a large text at levels
                             0-9 (hex, one a line)
hammer DIR OUT               while Rust does the same: incr "counter" and push
                             "py-<i>" HAMMER times, then pull until the queue
                             is empty; writes what it pulled to OUT (JSON)
"""
import importlib
import json
import os
import sys
import time
import zlib

dc = importlib.import_module(os.environ.get("DISKCACHE_MODULE", "diskcache"))

HAMMER = 1500


def lcg_hex(n):
    """n pseudo-random 16-digit hex strings (the Rust side makes the same)."""
    x = 12345
    out = []
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        out.append("%016x" % x)
    return out


BIG = lcg_hex(6000)  # about 40 KiB compressed: a value file
DOC = {
    "name": "ada",
    "id": 7,
    "ratio": 0.1,
    "big": 1e16,
    "tiny": 1.5e-07,
    "neg": -2,
    "ok": True,
    "no": False,
    "none": None,
    "tags": ["x", "y\u00e9", "\U0001F600"],
    "nested": {"a": [1, 2.5, None, [True]], "b": {}},
}
JSON_ITEMS = [
    ("str-key", "text \u00e9"),
    (7, 42),
    (2.5, -0.125),
    (True, False),
    (None, None),
    (["list", 1, 2.0, None], [1, [2, [3]]]),
    ({"k": [1, {"z": None}], "a": 1}, DOC),
    ("big", BIG),
]


def basic_write(path):
    with dc.Cache(path) as cache:
        cache.set("bytes", b"\x00\xff")
        cache.set("text", "t\u00e9xt")
        # Negative: integer keys from 0 up share the plain queue's range.
        cache.set(-1, 2)
        cache.set(-0.5, 1.25)
        cache.set("tagged", "v", expire=3600, tag="grp")
        cache.set("expiring", 1, expire=0.05)
        cache.push("a", prefix="jobs", expire=3600, tag="qt")
        cache.push("b", prefix="jobs")
        cache.push(10)
        cache.push(11, side="front")
        time.sleep(0.1)


def basic_read(path):
    with dc.Cache(path) as cache:
        assert cache.get("from-rust") == b"\x01\x02"
        assert cache.get("rust-text") == "r\u00e9"
        assert cache.get(-3) == 4 and type(cache.get(-3)) is int
        assert cache.get(-1.5) == 0.25
        value, expire, tag = cache.get("rust-tagged", expire_time=True, tag=True)
        assert value == "w" and tag == "rt" and expire > time.time() + 3000, (value, expire, tag)
        assert cache.get("rust-expired") is None
        (key, value), expire, tag = cache.pull(
            prefix="rjobs", expire_time=True, tag=True
        )
        assert (key, value, tag) == ("rjobs-500000000000000", "first", "rq"), (key, value, tag)
        assert expire > time.time() + 3000
        assert cache.pull(prefix="rjobs") == ("rjobs-500000000000001", "second")
        assert cache.pull(side="back") == (500000000000001, 21)
        assert cache.pull() == (499999999999999, 19)
        assert cache.evict("rgrp") == 2
        assert cache.check() == []


def fanout_write(path):
    with dc.FanoutCache(path, shards=4) as cache:
        for i in range(40):
            assert cache.set("py-%d" % i, i * 3, tag="py" if i % 2 else None)


def fanout_read(path):
    with dc.FanoutCache(path, shards=4) as cache:
        for i in range(40):
            assert cache.get("rs-%d" % i) == "v%d" % i, i
            assert cache.get("py-%d" % i) is None, "Rust popped it"
        assert cache.get("rs-expired") is None
        assert cache.evict("rs") == 20
        assert cache.expire() == 1, "rs-expired"
        assert len(cache) == 20


def deque_write(path):
    d = dc.Deque(directory=path)
    d.extend(["a", "b", "c"])
    d.appendleft("z")


def deque_read(path):
    d = dc.Deque(directory=path)
    assert list(d) == ["b", "c", "r1", "r2"], list(d)
    assert d.popleft() == "b"
    assert d.pop() == "r2"


def index_write(path):
    index = dc.Index(path)
    index["one"] = 1
    index[2] = "two"
    index["three"] = 3.0


def index_read(path):
    index = dc.Index(path)
    assert list(index.keys()) == ["one", "three", "four", 5], list(index.keys())
    assert index["four"] == 4 and index[5] == "five"
    assert index.peekitem() == (5, "five")


def json_cache(path, level=1):
    return dc.Cache(path, disk=dc.JSONDisk, disk_compress_level=level)


def json_write(path):
    with json_cache(os.path.join(path, "one")) as cache:
        for key, value in JSON_ITEMS:
            assert cache.set(key, value)
        cache.set("tagged", {"t": 1}, expire=3600, tag="jt")
        cache.push({"job": 1}, prefix="jq")
    with json_cache(os.path.join(path, "nine"), 9) as cache:
        for key, value in JSON_ITEMS:
            assert cache.set(key, value)
    with dc.FanoutCache(
        os.path.join(path, "fan"), shards=4, disk=dc.JSONDisk
    ) as cache:
        for i in range(30):
            assert cache.set(["py", i], {"i": i})


def json_read(path):
    with json_cache(os.path.join(path, "one")) as cache:
        for key, value in JSON_ITEMS:
            got = cache.get(key)
            assert got == value and json.dumps(got) == json.dumps(value), (key, got)
        assert cache.get(["rust", 1]) == {"name": "ada", "id": 7, "tags": ["x"], "score": 0.5}
        modes = {}
        for k, m, f in cache._sql("SELECT key, mode, filename FROM Cache"):
            k = json.loads(zlib.decompress(k)) if isinstance(k, bytes) else k
            if isinstance(k, str):
                modes[k] = (m, f is not None)
        assert modes["big"] == (2, True) and modes["str-key"] == (1, False), modes
        assert cache.get("rust-incr") == 5
        assert cache.check() == []
    with json_cache(os.path.join(path, "nine"), 9) as cache:
        assert cache.get("rust-nine") == [9]
        for key, value in JSON_ITEMS:
            assert cache.get(key) == value, key
    with dc.FanoutCache(
        os.path.join(path, "fan"), shards=4, disk=dc.JSONDisk
    ) as cache:
        for i in range(30):
            assert cache.get(["rs", i]) == {"i": i * 2}, i
            assert cache.get(["py", i]) is None


def json_level(path):
    text = json.dumps(BIG).encode("utf-8")
    for level in range(10):
        print(zlib.compress(text, level).hex())


def hammer(path, out):
    pulled = []
    with dc.Cache(path, timeout=60) as cache:
        for i in range(HAMMER):
            cache.incr("counter", 1, default=0)
            cache.push("py-%d" % i, prefix="work")
        while True:
            key, value = cache.pull(prefix="work")
            if key is None:
                break
            pulled.append(value)
    with open(out, "w") as f:
        json.dump(pulled, f)


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "hammer":
        hammer(path, sys.argv[3])
    else:
        globals()[mode.replace("-", "_")](path)
