"""Replays an operation file against python-diskcache, timing each operation.

python replay.py <cache|fanoutN|memcached:PORT|redis:PORT> <dir> <ops-file> <start-epoch-ms>

Each line of the ops file is `g KEY`, `s KEY VALUE` or `d KEY`. Prints one
line per operation: the action letter, whether it missed (1) or not (0), and
the nanoseconds it took.
"""
import sys
import time

import diskcache


def open_cache(kind, directory):
    if kind == "cache":
        return diskcache.Cache(directory)
    if kind.startswith("fanout"):
        return diskcache.FanoutCache(directory, shards=int(kind[len("fanout"):]))
    name, port = kind.split(":")
    if name == "memcached":
        from pymemcache.client.base import Client

        return Client(("127.0.0.1", int(port)), default_noreply=False)
    import redis

    return redis.Redis(host="127.0.0.1", port=int(port))


def main():
    kind, directory, path, start = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    cache = open_cache(kind, directory)
    ops = []
    with open(path, "rb") as f:
        for line in f:
            parts = line.rstrip(b"\n").split(b" ")
            ops.append((parts[0], parts[1], parts[2] if len(parts) > 2 else None))
    while time.time() * 1000 < start:
        time.sleep(0.0002)
    clock = time.perf_counter_ns
    out = []
    # How many operations are done, 20 times a run, for the harness's
    # progress display (the Rust workers write the same file).
    progress = path.rsplit(".", 1)[0] + ".done"
    step = max(len(ops) // 20, 1)
    for i, (action, key, value) in enumerate(ops, 1):
        if action == b"g":
            t = clock()
            got = cache.get(key)
            out.append("g %d %d" % (got is None, clock() - t))
        elif action == b"s":
            t = clock()
            cache.set(key, value)
            out.append("s 0 %d" % (clock() - t))
        else:
            t = clock()
            found = cache.delete(key)
            # diskcache and pymemcache answer True/False, redis a count.
            out.append("d %d %d" % (not found, clock() - t))
        if i % step == 0:
            with open(progress, "w") as f:
                f.write(str(i))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
