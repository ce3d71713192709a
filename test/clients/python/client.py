"""An application's session with Redis through redis-py, run against hotswap.

Usage: python client.py HOST:PORT [--protocol default|2|3]

Runs the scenario in ../README.md and prints `ok redis-py VERSION (...)`; on any reply that
differs from what Redis gives, prints what differed and exits 1.
"""

import argparse
import os
import sys
import threading
import time
import traceback

import redis

NAME = "hotswap-clients-py"


class Mismatch(Exception):
    pass


def check(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: got {got!r}, want {want!r}")


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr", help="hotswap's host:port")
    ap.add_argument(
        "--protocol",
        default="default",
        choices=["default", "2", "3"],
        help="RESP version to ask for; default: the library's own default",
    )
    args = ap.parse_args()
    host, _, port = args.addr.rpartition(":")
    kw = dict(host=host, port=int(port), socket_timeout=10, socket_connect_timeout=5)
    if args.protocol != "default":
        kw["protocol"] = int(args.protocol)

    def client(**extra):
        return redis.Redis(**{**kw, **extra})

    p = f"clients:py:{os.getpid()}:"  # key prefix: runs never share keys
    r = client(client_name=NAME)
    other = client()  # a second application connection

    # connect: the handshake went through, and the name is this connection's
    check("PING", r.ping(), True)
    check("CLIENT GETNAME", text(r.client_getname()), NAME)
    check("CLIENT GETNAME (unnamed connection)", other.client_getname(), None)
    if not isinstance(r.client_id(), int):
        raise Mismatch(f"CLIENT ID: got {r.client_id()!r}, want an integer")
    conn = r.connection_pool.get_connection()
    proto = conn.protocol  # what the handshake settled on
    r.connection_pool.release(conn)

    # strings, binary-safe in keys and values
    val = bytes(range(256)) + b"\r\n$-1\r\n*0\r\n\x00"
    bkey = (p + "bin:").encode() + b"\x00\xff\r\n"
    check("SET binary", r.set(bkey, val), True)
    check("GET binary", r.get(bkey), val)
    check("STRLEN", r.strlen(bkey), len(val))
    check("GET missing", r.get(p + "missing"), None)
    check("SET NX on existing", r.set(bkey, b"x", nx=True), None)

    # hashes
    h = {b"name": b"Ada", b"email": b"ada@example.com", b"bin": b"\x00\x01\xfe\xff", b"": b"empty field"}
    check("HSET", r.hset(p + "hash", mapping=h), len(h))
    check("HGETALL", r.hgetall(p + "hash"), h)
    check("HGET", r.hget(p + "hash", "name"), b"Ada")
    check("HGETALL missing", r.hgetall(p + "nohash"), {})

    # sets
    members = {b"a", b"b", b"c", b"\x00bin\xff"}
    check("SADD", r.sadd(p + "set", *members), len(members))
    check("SADD again", r.sadd(p + "set", b"a"), 0)
    check("SMEMBERS", set(r.smembers(p + "set")), members)
    check("SISMEMBER", r.sismember(p + "set", b"b") in (True, 1), True)

    # a pipeline of 1,000 commands in one round trip
    pipe = r.pipeline(transaction=False)
    for i in range(1000):
        if i % 2 == 0:
            pipe.incr(p + "counter")
        else:
            pipe.rpush(p + "list", str(i))
    got = pipe.execute()
    check("pipeline length", len(got), 1000)
    for i, v in enumerate(got):
        check(f"pipeline reply {i}", v, i // 2 + 1)
    check("LRANGE after pipeline", r.lrange(p + "list", 0, 2), [b"1", b"3", b"5"])
    check("GET counter", r.get(p + "counter"), b"500")

    # MULTI/EXEC, with an error inside the transaction
    tx = r.pipeline(transaction=True)
    tx.set(p + "tx", "10").incrby(p + "tx", 5).get(p + "tx").hset(p + "tx", "f", "v").lpush(p + "txlist", "x")
    got = tx.execute(raise_on_error=False)
    check("EXEC length", len(got), 5)
    check("EXEC replies", got[:3] + got[4:], [True, 15, b"15", 1])
    if not isinstance(got[3], redis.ResponseError) or "WRONGTYPE" not in str(got[3]):
        raise Mismatch(f"EXEC reply 4: got {got[3]!r}, want a WRONGTYPE error")

    # WATCH: an optimistic update that commits, then one that another client breaks
    def add_one(pipe):
        n = int(pipe.get(p + "balance") or 0)
        pipe.multi()
        pipe.set(p + "balance", n + 1)

    r.set(p + "balance", 41)
    check("WATCH update", r.transaction(add_one, p + "balance"), [True])
    check("GET after WATCH update", r.get(p + "balance"), b"42")
    with r.pipeline() as w:
        w.watch(p + "balance")
        n = int(w.get(p + "balance"))
        other.set(p + "balance", 100)  # another client writes between WATCH and EXEC
        w.multi()
        w.set(p + "balance", n + 1)
        try:
            w.execute()
            raise Mismatch("EXEC after a watched key changed: committed, want aborted (nil)")
        except redis.WatchError:
            pass
    check("GET after aborted WATCH", r.get(p + "balance"), b"100")

    # pub/sub: subscribe on one connection, publish on another
    ps = client().pubsub()
    ps.subscribe(p + "chan")
    ps.psubscribe(p + "pat.*")
    for want in ("subscribe", "psubscribe"):
        m = ps.get_message(timeout=5)
        if m is None or m["type"] != want:
            raise Mismatch(f"{want} confirmation: got {m!r}")
    payload = b"hello\x00\xff\r\n"
    check("PUBLISH receivers", other.publish(p + "chan", payload), 1)
    check("PUBLISH pattern receivers", other.publish(p + "pat.x", b"p"), 1)
    m = ps.get_message(timeout=5)
    check("message", (m or {}).get("type"), "message")
    check("message channel", text(m["channel"]), p + "chan")
    check("message data", m["data"], payload)
    m = ps.get_message(timeout=5)
    check("pmessage", (m or {}).get("type"), "pmessage")
    check("pmessage channel", text(m["channel"]), p + "pat.x")
    check("pmessage data", m["data"], b"p")
    ps.unsubscribe()
    ps.punsubscribe()
    ps.close()

    # BLPOP woken by another connection
    result = {}

    def block():
        t0 = time.monotonic()
        try:
            result["v"] = client().blpop([p + "queue"], timeout=5)
        except Exception as e:  # reported by the main thread
            result["err"] = e
        result["t"] = time.monotonic() - t0

    th = threading.Thread(target=block)
    th.start()
    time.sleep(0.3)
    check("RPUSH to a blocked list", other.rpush(p + "queue", b"job-1"), 1)
    th.join(10)
    if th.is_alive():
        raise Mismatch("BLPOP: still blocked 10 s after RPUSH")
    if "err" in result:
        raise Mismatch(f"BLPOP: {result['err']!r}")
    check("BLPOP", [text(result["v"][0]), result["v"][1]], [p + "queue", b"job-1"])
    if result["t"] > 4:
        raise Mismatch(f"BLPOP took {result['t']:.1f}s: it was not woken by the RPUSH")
    check("BLPOP timeout", client().blpop([p + "empty"], timeout=0.1), None)

    # another db: a client configured with db=1, and SELECT on one connection
    db1 = client(db=1)
    check("SET in db 1", db1.set(p + "db", "one"), True)
    check("GET in db 1", db1.get(p + "db"), b"one")
    check("GET in db 0 of a db 1 key", r.get(p + "db"), None)
    one = client(single_connection_client=True)
    check("SELECT 2", one.execute_command("SELECT", 2), True)
    check("SET in db 2", one.set(p + "db", "two"), True)
    check("SELECT 0", one.execute_command("SELECT", 0), True)
    check("GET in db 0 after SELECT 0", one.get(p + "db"), None)
    check("GET in db 1 unchanged", db1.get(p + "db"), b"one")
    one.close()

    print(f"ok redis-py {redis.__version__} (RESP{proto})")


if __name__ == "__main__":
    try:
        main()
    except Mismatch as e:
        print(f"FAIL redis-py {redis.__version__}: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:
        traceback.print_exc()
        print(f"FAIL redis-py {redis.__version__}: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
