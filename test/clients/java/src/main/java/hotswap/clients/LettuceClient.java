package hotswap.clients;

import static hotswap.clients.Check.bytes;
import static hotswap.clients.Check.eq;
import static hotswap.clients.Check.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.KeyValue;
import io.lettuce.core.LettuceFutures;
import io.lettuce.core.LettuceVersion;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SetArgs;
import io.lettuce.core.StatefulRedisConnectionImpl;
import io.lettuce.core.TransactionResult;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.protocol.ProtocolVersion;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;

/**
 * An application's session with Redis through Lettuce, run against hotswap. By default Lettuce
 * 6+ opens every connection with HELLO 3 and falls back to RESP2 when the server answers NOPROTO.
 */
public final class LettuceClient {
    static final String NAME = "hotswap-clients-lettuce";

    public static void main(String[] args) {
        Check.run("lettuce " + LettuceVersion.getVersion(), args, LettuceClient::scenario);
    }

    /** A client for uri, asking for RESP proto if given (else Lettuce's default: HELLO 3, then RESP2). */
    static RedisClient create(RedisURI uri, Integer proto) {
        RedisClient c = RedisClient.create(uri);
        if (proto != null) {
            c.setOptions(ClientOptions.builder()
                    .protocolVersion(proto == 3 ? ProtocolVersion.RESP3 : ProtocolVersion.RESP2).build());
        }
        return c;
    }

    static RedisURI uri(String addr, int db, String name) {
        HostAndPortParts hp = new HostAndPortParts(addr);
        RedisURI.Builder b = RedisURI.builder().withHost(hp.host).withPort(hp.port).withDatabase(db)
                .withTimeout(Duration.ofSeconds(10));
        if (name != null) {
            b.withClientName(name);
        }
        return b.build();
    }

    record HostAndPortParts(String host, int port) {
        HostAndPortParts(String addr) {
            this(addr.substring(0, addr.lastIndexOf(':')), Integer.parseInt(addr.substring(addr.lastIndexOf(':') + 1)));
        }
    }

    static String scenario(String addr, Integer proto) throws Exception {
        String p = "clients:lettuce:" + ProcessHandle.current().pid() + ":"; // key prefix
        RedisClient client = create(uri(addr, 0, NAME), proto);
        RedisClient plainClient = create(uri(addr, 0, null), proto);
        String negotiated;
        try {
            StatefulRedisConnection<String, String> conn = client.connect();
            RedisCommands<String, String> r = conn.sync();
            RedisCommands<String, String> other = plainClient.connect().sync(); // a second connection

            // connect: the handshake went through; the name is this connection's
            eq("PING", r.ping(), "PONG");
            eq("CLIENT GETNAME", r.clientGetname(), NAME);
            eq("CLIENT GETNAME (unnamed connection)", other.clientGetname(), null);
            if (r.clientId() == null) {
                fail("CLIENT ID: got null");
            }
            negotiated = String.valueOf(((StatefulRedisConnectionImpl<?, ?>) conn).getConnectionState()
                    .getNegotiatedProtocolVersion());

            // strings, binary-safe in keys and values
            StatefulRedisConnection<byte[], byte[]> binConn = client.connect(ByteArrayCodec.INSTANCE);
            RedisCommands<byte[], byte[]> rb = binConn.sync();
            byte[] val = Check.binaryValue();
            byte[] bkey = Check.concat(bytes(p + "bin:"), new byte[] {0, (byte) 0xff, '\r', '\n'});
            eq("SET binary", rb.set(bkey, val), "OK");
            eq("GET binary", rb.get(bkey), val);
            eq("STRLEN", rb.strlen(bkey), (long) val.length);
            eq("GET missing", r.get(p + "missing"), null);
            eq("SET NX on existing", rb.set(bkey, bytes("x"), SetArgs.Builder.nx()), null);

            // hashes
            Map<String, String> h = new LinkedHashMap<>();
            h.put("name", "Ada");
            h.put("email", "ada@example.com");
            h.put("", "empty field");
            h.put("ünï", "çødé");
            eq("HSET", r.hset(p + "hash", h), 4L);
            eq("HGETALL", r.hgetall(p + "hash"), h);
            eq("HGET", r.hget(p + "hash", "name"), "Ada");
            eq("HGETALL missing", r.hgetall(p + "nohash"), Map.of());

            // sets
            Set<String> members = Set.of("a", "b", "c", "dé");
            eq("SADD", r.sadd(p + "set", members.toArray(new String[0])), 4L);
            eq("SADD again", r.sadd(p + "set", "a"), 0L);
            eq("SMEMBERS", new HashSet<>(r.smembers(p + "set")), members);
            eq("SISMEMBER", r.sismember(p + "set", "b"), true);

            // a pipeline of 1,000 commands: async with manual flushing, on its own connection
            StatefulRedisConnection<String, String> pipeConn = client.connect();
            pipeConn.setAutoFlushCommands(false);
            RedisAsyncCommands<String, String> pa = pipeConn.async();
            List<RedisFuture<Long>> futs = new ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                futs.add(i % 2 == 0 ? pa.incr(p + "counter") : pa.rpush(p + "list", String.valueOf(i)));
            }
            pipeConn.flushCommands();
            if (!LettuceFutures.awaitAll(10, TimeUnit.SECONDS, futs.toArray(new RedisFuture[0]))) {
                fail("pipeline: not all 1,000 replies within 10 s");
            }
            for (int i = 0; i < futs.size(); i++) {
                eq("pipeline reply " + i, futs.get(i).get(), (long) (i / 2 + 1));
            }
            pipeConn.close();
            eq("LRANGE after pipeline", r.lrange(p + "list", 0, 2), List.of("1", "3", "5"));
            eq("GET counter", r.get(p + "counter"), "500");

            // MULTI/EXEC, with an error inside the transaction (on a connection of its own,
            // as Lettuce's docs ask for transactions)
            StatefulRedisConnection<String, String> txConn = client.connect();
            RedisCommands<String, String> t = txConn.sync();
            eq("MULTI", t.multi(), "OK");
            t.set(p + "tx", "10");
            t.incrby(p + "tx", 5);
            t.get(p + "tx");
            t.hset(p + "tx", "f", "v");
            t.lpush(p + "txlist", "x");
            TransactionResult got = t.exec();
            eq("EXEC discarded", got.wasDiscarded(), false);
            eq("EXEC length", got.size(), 5);
            eq("EXEC replies", List.of(got.get(0), got.get(1), got.get(2), got.get(4)), List.of("OK", 15L, "15", 1L));
            Object e4 = got.get(3);
            if (!(e4 instanceof Exception e) || !String.valueOf(e.getMessage()).startsWith("WRONGTYPE")) {
                fail("EXEC reply 4: got " + e4 + ", want a WRONGTYPE error");
            }

            // WATCH: an optimistic update that commits, then one that another client breaks
            r.set(p + "balance", "41");
            eq("WATCH", t.watch(p + "balance"), "OK");
            long n = Long.parseLong(t.get(p + "balance"));
            t.multi();
            t.set(p + "balance", String.valueOf(n + 1));
            got = t.exec();
            eq("WATCH update discarded", got.wasDiscarded(), false);
            eq("WATCH update", got.get(0), "OK");
            eq("GET after WATCH update", r.get(p + "balance"), "42");
            t.watch(p + "balance");
            n = Long.parseLong(t.get(p + "balance"));
            other.set(p + "balance", "100"); // another client writes between WATCH and EXEC
            t.multi();
            t.set(p + "balance", String.valueOf(n + 1));
            eq("EXEC after a watched key changed: discarded", t.exec().wasDiscarded(), true);
            eq("GET after aborted WATCH", r.get(p + "balance"), "100");
            txConn.close();

            // pub/sub: subscribe on one connection, publish on another
            StatefulRedisPubSubConnection<byte[], byte[]> sub = plainClient.connectPubSub(ByteArrayCodec.INSTANCE);
            List<Object> msgs = new ArrayList<>();
            CountDownLatch received = new CountDownLatch(2);
            sub.addListener(new RedisPubSubAdapter<byte[], byte[]>() {
                @Override
                public void message(byte[] channel, byte[] message) {
                    synchronized (msgs) {
                        msgs.add(List.of(channel, message));
                    }
                    received.countDown();
                }

                @Override
                public void message(byte[] pattern, byte[] channel, byte[] message) {
                    synchronized (msgs) {
                        msgs.add(List.of(pattern, channel, message));
                    }
                    received.countDown();
                }
            });
            sub.sync().subscribe(bytes(p + "chan"));
            sub.sync().psubscribe(bytes(p + "pat.*"));
            byte[] payload = Check.concat(bytes("hello"), new byte[] {0, (byte) 0xff, '\r', '\n'});
            eq("PUBLISH receivers", rb.publish(bytes(p + "chan"), payload), 1L);
            eq("PUBLISH pattern receivers", other.publish(p + "pat.x", "p"), 1L);
            if (!received.await(5, TimeUnit.SECONDS)) {
                fail("pub/sub: got " + Check.fmt(msgs) + " within 5 s, want 2 messages");
            }
            synchronized (msgs) {
                eq("messages", msgs, List.of(List.of(bytes(p + "chan"), payload),
                        List.of(bytes(p + "pat.*"), bytes(p + "pat.x"), bytes("p"))));
            }
            sub.sync().unsubscribe();
            sub.sync().punsubscribe();
            eq("PING after leaving pub/sub", sub.sync().ping(), "PONG");
            sub.close();

            // BLPOP woken by another connection
            StatefulRedisConnection<String, String> blocker = plainClient.connect();
            long t0 = System.nanoTime();
            RedisFuture<KeyValue<String, String>> popped = blocker.async().blpop(5, p + "queue");
            Thread.sleep(300);
            eq("RPUSH to a blocked list", other.rpush(p + "queue", "job-1"), 1L);
            KeyValue<String, String> kv = popped.get(10, TimeUnit.SECONDS);
            eq("BLPOP", kv == null ? null : List.of(kv.getKey(), kv.getValue()), List.of(p + "queue", "job-1"));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            if (ms > 4000) {
                fail("BLPOP took " + ms + " ms: not woken by the RPUSH");
            }
            eq("BLPOP timeout", blocker.sync().blpop(0.1, p + "empty"), null);
            blocker.close();

            // another db: a connection whose URI names database 1, and SELECT on one connection
            RedisClient db1Client = create(uri(addr, 1, null), proto);
            try {
                RedisCommands<String, String> db1 = db1Client.connect().sync();
                eq("SET in db 1", db1.set(p + "db", "one"), "OK");
                eq("GET in db 1", db1.get(p + "db"), "one");
                eq("GET in db 0 of a db 1 key", r.get(p + "db"), null);
                StatefulRedisConnection<String, String> oneConn = plainClient.connect();
                RedisCommands<String, String> one = oneConn.sync();
                eq("SELECT 2", one.select(2), "OK");
                eq("SET in db 2", one.set(p + "db", "two"), "OK");
                eq("SELECT 0", one.select(0), "OK");
                eq("GET in db 0 after SELECT 0", one.get(p + "db"), null);
                eq("GET in db 1 unchanged", db1.get(p + "db"), "one");
                oneConn.close();
            } finally {
                db1Client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            }
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            plainClient.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
        return "ok lettuce " + LettuceVersion.getVersion() + " (" + negotiated + ")";
    }
}
