"use strict";
// An application's session with Redis through ioredis, run against hotswap.
//
// Usage: node client.js HOST:PORT [--protocol 2|3]   (default: the library's default, RESP3
// with a fallback to RESP2)
//
// Runs the scenario in ../README.md and prints `ok ioredis VERSION (...)`; on any reply
// that differs from what Redis gives, prints what differed and exits 1.

const assert = require("node:assert/strict");
const Redis = require("ioredis");
const { version } = require("ioredis/package.json");

const NAME = "hotswap-clients-node";

class Mismatch extends Error {}

function check(what, got, want) {
  try {
    assert.deepStrictEqual(got, want);
  } catch {
    throw new Mismatch(`${what}: got ${fmt(got)}, want ${fmt(want)}`);
  }
}

function fmt(v) {
  if (Buffer.isBuffer(v)) return `<Buffer ${JSON.stringify(v.toString("latin1"))}>`;
  if (Array.isArray(v)) return `[${v.map(fmt).join(", ")}]`;
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// once resolves with the next `event` of emitter, or rejects after ms.
function once(emitter, event, ms, what) {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Mismatch(`${what}: nothing within ${ms} ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(t);
      res(args);
    });
  });
}

async function main() {
  const [addr, flag, protocol] = process.argv.slice(2);
  if (!addr || (flag !== undefined && (flag !== "--protocol" || !["2", "3"].includes(protocol)))) {
    throw new Error("usage: node client.js HOST:PORT [--protocol 2|3]");
  }
  const i = addr.lastIndexOf(":");
  const base = {
    host: addr.slice(0, i),
    port: Number(addr.slice(i + 1)),
    connectTimeout: 5000,
    commandTimeout: 10000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null, // fail instead of reconnecting: a drop is a finding
    ...(protocol ? { protocol: Number(protocol) } : {}),
  };
  const clients = [];
  const client = (extra = {}) => {
    const c = new Redis({ ...base, ...extra });
    c.on("error", () => {}); // surfaced by the command that fails
    clients.push(c);
    return c;
  };
  const p = `clients:node:${process.pid}:`; // key prefix: runs never share keys

  try {
    const r = client({ connectionName: NAME });
    const other = client(); // a second application connection

    // connect: the handshake went through (HELLO 3, else RESP2), the name is this connection's
    check("PING", await r.ping(), "PONG");
    check("CLIENT GETNAME", await r.client("GETNAME"), NAME);
    check("CLIENT GETNAME (unnamed connection)", await other.client("GETNAME"), null);
    const id = await r.client("ID");
    if (typeof id !== "number") throw new Mismatch(`CLIENT ID: got ${fmt(id)}, want a number`);
    const proto = r.condition && r.condition.protocol;

    // strings, binary-safe in keys and values
    const val = Buffer.concat([
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      Buffer.from("\r\n$-1\r\n*0\r\n\0", "latin1"),
    ]);
    const bkey = Buffer.concat([Buffer.from(p + "bin:"), Buffer.from([0, 0xff, 13, 10])]);
    check("SET binary", await r.set(bkey, val), "OK");
    check("GET binary", await r.getBuffer(bkey), val);
    check("STRLEN", await r.strlen(bkey), val.length);
    check("GET missing", await r.get(p + "missing"), null);
    check("SET NX on existing", await r.set(bkey, "x", "NX"), null);

    // hashes
    const h = { name: "Ada", email: "ada@example.com", "": "empty field", "ünï": "çødé" };
    check("HSET", await r.hset(p + "hash", h), 4);
    check("HGETALL", await r.hgetall(p + "hash"), h);
    const hb = await r.hgetallBuffer(p + "hash");
    check("HGETALL (buffers)", Buffer.from(hb["ünï"]).toString(), "çødé");
    check("HGET", await r.hget(p + "hash", "name"), "Ada");
    check("HGETALL missing", await r.hgetall(p + "nohash"), {});

    // sets
    const members = ["a", "b", "c", "dé"];
    check("SADD", await r.sadd(p + "set", ...members), 4);
    check("SADD again", await r.sadd(p + "set", "a"), 0);
    check("SMEMBERS", (await r.smembers(p + "set")).sort(), [...members].sort());
    check("SISMEMBER", await r.sismember(p + "set", "b"), 1);

    // a pipeline of 1,000 commands in one write
    const pipe = r.pipeline();
    for (let i = 0; i < 1000; i++) {
      if (i % 2 === 0) pipe.incr(p + "counter");
      else pipe.rpush(p + "list", String(i));
    }
    const res = await pipe.exec();
    check("pipeline length", res.length, 1000);
    res.forEach(([err, v], i) => {
      if (err) throw new Mismatch(`pipeline reply ${i}: error ${err.message}`);
      check(`pipeline reply ${i}`, v, Math.floor(i / 2) + 1);
    });
    check("LRANGE after pipeline", await r.lrange(p + "list", 0, 2), ["1", "3", "5"]);
    check("GET counter", await r.get(p + "counter"), "500");

    // MULTI/EXEC, with an error inside the transaction
    const tx = await r
      .multi()
      .set(p + "tx", "10")
      .incrby(p + "tx", 5)
      .get(p + "tx")
      .hset(p + "tx", "f", "v")
      .lpush(p + "txlist", "x")
      .exec();
    check("EXEC length", tx.length, 5);
    check(
      "EXEC replies",
      [tx[0], tx[1], tx[2], tx[4]],
      [
        [null, "OK"],
        [null, 15],
        [null, "15"],
        [null, 1],
      ],
    );
    if (!tx[3][0] || !/^WRONGTYPE/.test(tx[3][0].message)) {
      throw new Mismatch(`EXEC reply 4: got ${fmt(tx[3])}, want a WRONGTYPE error`);
    }

    // WATCH: an optimistic update that commits, then one that another client breaks
    await r.set(p + "balance", "41");
    const w = client(); // WATCH belongs to a connection: give it its own
    check("WATCH", await w.watch(p + "balance"), "OK");
    let n = Number(await w.get(p + "balance"));
    check("WATCH update", await w.multi().set(p + "balance", String(n + 1)).exec(), [[null, "OK"]]);
    check("GET after WATCH update", await r.get(p + "balance"), "42");
    await w.watch(p + "balance");
    n = Number(await w.get(p + "balance"));
    await other.set(p + "balance", "100"); // another client writes between WATCH and EXEC
    check("EXEC after a watched key changed", await w.multi().set(p + "balance", String(n + 1)).exec(), null);
    check("GET after aborted WATCH", await r.get(p + "balance"), "100");

    // pub/sub: subscribe on one connection, publish on another
    const sub = client();
    check("SUBSCRIBE", await sub.subscribe(p + "chan"), 1);
    check("PSUBSCRIBE", await sub.psubscribe(p + "pat.*"), 2);
    const payload = Buffer.from("hello\0\xff\r\n", "latin1");
    const gotMsg = once(sub, "messageBuffer", 5000, "message");
    const gotPmsg = once(sub, "pmessage", 5000, "pmessage");
    check("PUBLISH receivers", await other.publish(p + "chan", payload), 1);
    check("PUBLISH pattern receivers", await other.publish(p + "pat.x", "p"), 1);
    const [ch, data] = await gotMsg;
    check("message channel", ch.toString(), p + "chan");
    check("message data", data, payload);
    check("pmessage", await gotPmsg, [p + "pat.*", p + "pat.x", "p"]);
    await sub.unsubscribe();
    await sub.punsubscribe();
    check("PING after leaving pub/sub", await sub.ping(), "PONG");

    // BLPOP woken by another connection
    const blocker = client();
    const t0 = Date.now();
    const popped = blocker.blpop(p + "queue", 5);
    await sleep(300);
    check("RPUSH to a blocked list", await other.rpush(p + "queue", "job-1"), 1);
    check("BLPOP", await popped, [p + "queue", "job-1"]);
    if (Date.now() - t0 > 4000) throw new Mismatch(`BLPOP took ${Date.now() - t0} ms: not woken by the RPUSH`);
    check("BLPOP timeout", await blocker.blpop(p + "empty", 0.1), null);

    // another db: a client configured with db 1, and SELECT on one connection
    const db1 = client({ db: 1 });
    check("SET in db 1", await db1.set(p + "db", "one"), "OK");
    check("GET in db 1", await db1.get(p + "db"), "one");
    check("GET in db 0 of a db 1 key", await r.get(p + "db"), null);
    const one = client();
    check("SELECT 2", await one.select(2), "OK");
    check("SET in db 2", await one.set(p + "db", "two"), "OK");
    check("SELECT 0", await one.select(0), "OK");
    check("GET in db 0 after SELECT 0", await one.get(p + "db"), null);
    check("GET in db 1 unchanged", await db1.get(p + "db"), "one");

    console.log(`ok ioredis ${version} (RESP${proto || "?"})`);
  } finally {
    clients.forEach((c) => c.disconnect());
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    if (!(e instanceof Mismatch)) console.error(e);
    console.error(`FAIL ioredis ${version}: ${e.message}`);
    process.exit(1);
  },
);
