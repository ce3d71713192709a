package hotswap.clients;

import static hotswap.clients.Check.bytes;
import static hotswap.clients.Check.eq;
import static hotswap.clients.Check.fail;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import redis.clients.jedis.BinaryJedisPubSub;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisClientConfig;
import redis.clients.jedis.JedisPool;
import redis.clients.jedis.JedisPubSub;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.RedisProtocol;
import redis.clients.jedis.Response;
import redis.clients.jedis.Transaction;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.params.SetParams;

/** An application's session with Redis through Jedis (JedisPool), run against hotswap. */
public final class JedisClient {
    static final String NAME = "hotswap-clients-jedis";

    public static void main(String[] args) {
        Check.run("jedis " + version(), args, JedisClient::scenario);
    }

    /** Jedis' version, from the pom.properties its jar carries. */
    static String version() {
        try (var in = Jedis.class.getResourceAsStream("/META-INF/maven/redis.clients/jedis/pom.properties")) {
            var props = new java.util.Properties();
            props.load(in);
            return props.getProperty("version", "?");
        } catch (Exception e) {
            return "?";
        }
    }

    /** The configuration an application would write: timeouts, and the protocol if asked. */
    static DefaultJedisClientConfig.Builder config(Integer proto) {
        DefaultJedisClientConfig.Builder b = DefaultJedisClientConfig.builder()
                .connectionTimeoutMillis(5000).socketTimeoutMillis(10000);
        if (proto != null) {
            b.protocol(proto == 3 ? RedisProtocol.RESP3 : RedisProtocol.RESP2);
        }
        return b;
    }

    static String scenario(String addr, Integer proto) throws Exception {
        HostAndPort hp = HostAndPort.from(addr);
        JedisClientConfig named = config(proto).clientName(NAME).build();
        JedisClientConfig plain = config(proto).build();
        String p = "clients:jedis:" + ProcessHandle.current().pid() + ":"; // key prefix
        ExecutorService bg = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        String negotiated;
        try (JedisPool pool = new JedisPool(hp, named); Jedis r = pool.getResource(); Jedis other = new Jedis(hp, plain)) {
            // connect: the handshake went through, the name is this connection's
            eq("PING", r.ping(), "PONG");
            eq("CLIENT GETNAME", r.clientGetname(), NAME);
            eq("CLIENT GETNAME (unnamed connection)", other.clientGetname(), null);
            r.clientId();
            RedisProtocol rp = r.getConnection().getRedisProtocol(); // null: never asked, RESP2
            negotiated = rp == null ? "RESP2" : String.valueOf(rp);

            // strings, binary-safe in keys and values
            byte[] val = Check.binaryValue();
            byte[] bkey = Check.concat(bytes(p + "bin:"), new byte[] {0, (byte) 0xff, '\r', '\n'});
            eq("SET binary", r.set(bkey, val), "OK");
            eq("GET binary", r.get(bkey), val);
            eq("STRLEN", r.strlen(bkey), (long) val.length);
            eq("GET missing", r.get(p + "missing"), null);
            eq("SET NX on existing", r.set(bkey, bytes("x"), SetParams.setParams().nx()), null);

            // hashes
            Map<String, String> h = new LinkedHashMap<>();
            h.put("name", "Ada");
            h.put("email", "ada@example.com");
            h.put("", "empty field");
            h.put("ünï", "çødé");
            eq("HSET", r.hset(p + "hash", h), 4L);
            eq("HGETALL", r.hgetAll(p + "hash"), h);
            eq("HGET", r.hget(p + "hash", "name"), "Ada");
            eq("HGETALL missing", r.hgetAll(p + "nohash"), Map.of());

            // sets
            Set<String> members = Set.of("a", "b", "c", "dé");
            eq("SADD", r.sadd(p + "set", members.toArray(new String[0])), 4L);
            eq("SADD again", r.sadd(p + "set", "a"), 0L);
            eq("SMEMBERS", new HashSet<>(r.smembers(p + "set")), members);
            eq("SISMEMBER", r.sismember(p + "set", "b"), true);

            // a pipeline of 1,000 commands
            Pipeline pipe = r.pipelined();
            for (int i = 0; i < 1000; i++) {
                if (i % 2 == 0) {
                    pipe.incr(p + "counter");
                } else {
                    pipe.rpush(p + "list", String.valueOf(i));
                }
            }
            List<Object> res = pipe.syncAndReturnAll();
            eq("pipeline length", res.size(), 1000);
            for (int i = 0; i < res.size(); i++) {
                eq("pipeline reply " + i, res.get(i), (long) (i / 2 + 1));
            }
            eq("LRANGE after pipeline", r.lrange(p + "list", 0, 2), List.of("1", "3", "5"));
            eq("GET counter", r.get(p + "counter"), "500");

            // MULTI/EXEC, with an error inside the transaction
            Transaction tx = r.multi();
            tx.set(p + "tx", "10");
            tx.incrBy(p + "tx", 5);
            Response<String> txGet = tx.get(p + "tx");
            tx.hset(p + "tx", "f", "v");
            tx.lpush(p + "txlist", "x");
            List<Object> got = tx.exec();
            eq("EXEC length", got.size(), 5);
            eq("EXEC replies", List.of(got.get(0), got.get(1), got.get(2), got.get(4)), List.of("OK", 15L, "15", 1L));
            eq("EXEC GET response", txGet.get(), "15");
            if (!(got.get(3) instanceof JedisDataException e) || !e.getMessage().startsWith("WRONGTYPE")) {
                fail("EXEC reply 4: got " + got.get(3) + ", want a WRONGTYPE error");
            }

            // WATCH: an optimistic update that commits, then one that another client breaks
            r.set(p + "balance", "41");
            eq("WATCH", r.watch(p + "balance"), "OK");
            long n = Long.parseLong(r.get(p + "balance"));
            tx = r.multi();
            tx.set(p + "balance", String.valueOf(n + 1));
            eq("WATCH update", tx.exec(), List.of("OK"));
            eq("GET after WATCH update", r.get(p + "balance"), "42");
            r.watch(p + "balance");
            n = Long.parseLong(r.get(p + "balance"));
            other.set(p + "balance", "100"); // another client writes between WATCH and EXEC
            tx = r.multi();
            tx.set(p + "balance", String.valueOf(n + 1));
            eq("EXEC after a watched key changed", tx.exec(), null);
            eq("GET after aborted WATCH", r.get(p + "balance"), "100");

            // pub/sub: subscribe on one connection, publish on another
            byte[] payload = Check.concat(bytes("hello"), new byte[] {0, (byte) 0xff, '\r', '\n'});
            List<Object> msgs = new ArrayList<>();
            CountDownLatch subscribed = new CountDownLatch(1), received = new CountDownLatch(1);
            BinaryJedisPubSub listener = new BinaryJedisPubSub() {
                @Override
                public void onSubscribe(byte[] channel, int count) {
                    subscribed.countDown();
                }

                @Override
                public void onMessage(byte[] channel, byte[] message) {
                    synchronized (msgs) {
                        msgs.add(List.of(channel, message));
                    }
                    received.countDown();
                }
            };
            Jedis subConn = new Jedis(hp, plain);
            Future<?> subDone = bg.submit(() -> {
                subConn.subscribe(listener, bytes(p + "chan"));
                return null;
            });
            if (!subscribed.await(5, TimeUnit.SECONDS)) {
                fail("SUBSCRIBE: no confirmation within 5 s");
            }
            eq("PUBLISH receivers", other.publish(bytes(p + "chan"), payload), 1L);
            if (!received.await(5, TimeUnit.SECONDS)) {
                fail("message: nothing within 5 s of PUBLISH");
            }
            synchronized (msgs) {
                eq("message", msgs, List.of(List.of(bytes(p + "chan"), payload)));
            }
            listener.unsubscribe();
            subDone.get(5, TimeUnit.SECONDS);
            eq("PING after leaving pub/sub", subConn.ping(), "PONG");
            subConn.close();

            List<String> pm = new ArrayList<>();
            CountDownLatch psubscribed = new CountDownLatch(1), preceived = new CountDownLatch(1);
            JedisPubSub plistener = new JedisPubSub() {
                @Override
                public void onPSubscribe(String pattern, int count) {
                    psubscribed.countDown();
                }

                @Override
                public void onPMessage(String pattern, String channel, String message) {
                    synchronized (pm) {
                        pm.addAll(List.of(pattern, channel, message));
                    }
                    preceived.countDown();
                }
            };
            Jedis psubConn = new Jedis(hp, plain);
            Future<?> psubDone = bg.submit(() -> {
                psubConn.psubscribe(plistener, p + "pat.*");
                return null;
            });
            if (!psubscribed.await(5, TimeUnit.SECONDS)) {
                fail("PSUBSCRIBE: no confirmation within 5 s");
            }
            eq("PUBLISH pattern receivers", other.publish(p + "pat.x", "p"), 1L);
            if (!preceived.await(5, TimeUnit.SECONDS)) {
                fail("pmessage: nothing within 5 s of PUBLISH");
            }
            synchronized (pm) {
                eq("pmessage", pm, List.of(p + "pat.*", p + "pat.x", "p"));
            }
            plistener.punsubscribe();
            psubDone.get(5, TimeUnit.SECONDS);
            psubConn.close();

            // BLPOP woken by another connection
            try (Jedis blocker = new Jedis(hp, plain)) {
                long t0 = System.nanoTime();
                Future<List<String>> popped = bg.submit(() -> blocker.blpop(5, p + "queue"));
                Thread.sleep(300);
                eq("RPUSH to a blocked list", other.rpush(p + "queue", "job-1"), 1L);
                eq("BLPOP", popped.get(10, TimeUnit.SECONDS), List.of(p + "queue", "job-1"));
                long ms = (System.nanoTime() - t0) / 1_000_000;
                if (ms > 4000) {
                    fail("BLPOP took " + ms + " ms: not woken by the RPUSH");
                }
                eq("BLPOP timeout", blocker.blpop(0.1, p + "empty"), null);
            }

            // another db: a pool configured with database 1, and SELECT on one connection
            JedisClientConfig db1cfg = config(proto).database(1).build();
            try (JedisPool db1pool = new JedisPool(hp, db1cfg); Jedis db1 = db1pool.getResource();
                    Jedis one = new Jedis(hp, plain)) {
                eq("SET in db 1", db1.set(p + "db", "one"), "OK");
                eq("GET in db 1", db1.get(p + "db"), "one");
                eq("GET in db 0 of a db 1 key", r.get(p + "db"), null);
                eq("SELECT 2", one.select(2), "OK");
                eq("SET in db 2", one.set(p + "db", "two"), "OK");
                eq("SELECT 0", one.select(0), "OK");
                eq("GET in db 0 after SELECT 0", one.get(p + "db"), null);
                eq("GET in db 1 unchanged", db1.get(p + "db"), "one");
            }
        }
        return "ok jedis " + version() + " (" + negotiated + ")";
    }
}
