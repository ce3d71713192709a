// Package proxy is hotswap's Redis-protocol front: a redcon server that keeps a session
// per client connection and runs each client's commands against Redis through the
// upstream pool, so that an application cannot tell hotswap from Redis.
//
// The path of a batch: redcon reads everything the client has sent so far (on Linux,
// up to 1 MiB per round) and hands the handler one command; the handler takes the
// rest of the client's pipeline (ReadPipeline), looks every command up in the command
// table, and groups consecutive commands bound for the same upstream connection into a
// segment. A segment goes upstream in one write and its replies come back as raw bytes,
// written to the client unchanged. Commands that change per-connection state (SELECT,
// AUTH, HELLO, CLIENT SETNAME/ID/REPLY, RESET, QUIT) are answered from the session, so
// many clients can share a few upstream connections. What cannot be shared gets a
// dedicated connection: MULTI/WATCH until the transaction ends, each blocking command
// while it blocks, and pub/sub or MONITOR for good (push mode, see push.go).
//
// Where hotswap differs from Redis, by design:
//   - The protocol is per client: after HELLO 3 a client is served by upstream
//     connections that said HELLO 3 as well, so RESP3 replies (maps, sets, pushes) pass
//     through unchanged. (redis-py 8 defaults to RESP3 and does not fall back.)
//   - CLIENT TRACKING is refused (client-side caching needs a direct connection).
//   - CLIENT LIST/INFO/KILL/UNBLOCK see hotswap's upstream connections, not clients.
//   - A new client starts with the identity and db of the --redis URL; AUTH and
//     SELECT switch it, checked by Redis itself on a connection of that identity.
//   - A client that subscribes, runs MONITOR, WAIT, or CLIENT NO-EVICT/NO-TOUCH keeps a
//     connection of its own until it disconnects; after SUBSCRIBE its commands go to
//     Redis raw, so CLIENT ID/SETNAME there are Redis' answers for that connection.
//   - Requests are parsed as Redis 7.0 parses them (internal/redcon, a patched redcon;
//     its README lists the cases), protocol errors and their wording included, except
//     the limits Redis applies before a client has authenticated (10 arguments, 16 KiB
//     each): a hotswap client starts with the --redis URL's identity. The longest
//     argument is Redis' default proto-max-bulk-len (512 MiB), whatever Redis' setting.
//     In push mode a protocol error is answered at once: replies Redis has not sent yet
//     to the commands before it (the SUBSCRIBE in the same write) are lost on close.
package proxy
