package translate

import (
	"strconv"

	"hotswap/resp"
)

// Reply accumulates the RESP reply of commands executed by hotswap, in the protocol
// the client speaks (2 or 3). Handlers write exactly one reply per command.
type Reply struct {
	buf   []byte
	proto int
}

// NewReply returns a Reply writing the given protocol version (2 or 3).
func NewReply(proto int) *Reply { return &Reply{proto: proto} }

// Proto is the protocol version replies are written in.
func (r *Reply) Proto() int { return r.proto }

// Bytes returns the reply bytes written so far.
func (r *Reply) Bytes() []byte { return r.buf }

// Reset forgets everything written and sets the protocol version.
func (r *Reply) Reset(proto int) { r.buf = r.buf[:0]; r.proto = proto }

// Len is the number of bytes written so far; Truncate(n) drops what was written after.
func (r *Reply) Len() int { return len(r.buf) }

// Truncate drops everything written after the first n bytes.
func (r *Reply) Truncate(n int) { r.buf = r.buf[:n] }

// Bulk writes a bulk string.
func (r *Reply) Bulk(b []byte) { r.buf = resp.AppendBulk(r.buf, b) }

// BulkString writes a bulk string.
func (r *Reply) BulkString(s string) {
	r.buf = append(r.buf, '$')
	r.buf = strconv.AppendInt(r.buf, int64(len(s)), 10)
	r.buf = append(r.buf, '\r', '\n')
	r.buf = append(r.buf, s...)
	r.buf = append(r.buf, '\r', '\n')
}

// Null writes a null bulk string ($-1 in RESP2, _ in RESP3).
func (r *Reply) Null() {
	if r.proto == 3 {
		r.buf = append(r.buf, "_\r\n"...)
		return
	}
	r.buf = append(r.buf, "$-1\r\n"...)
}

// NullArray writes a null array (*-1 in RESP2, _ in RESP3), as EXEC after a failed WATCH.
func (r *Reply) NullArray() {
	if r.proto == 3 {
		r.buf = append(r.buf, "_\r\n"...)
		return
	}
	r.buf = append(r.buf, "*-1\r\n"...)
}

// Int writes an integer.
func (r *Reply) Int(n int64) { r.buf = resp.AppendInt(r.buf, n) }

// OK writes +OK.
func (r *Reply) OK() { r.buf = append(r.buf, "+OK\r\n"...) }

// Simple writes a simple string; s must not contain CR or LF.
func (r *Reply) Simple(s string) { r.buf = resp.AppendSimple(r.buf, s) }

// Error writes an error reply. msg carries its prefix as Redis sends it, for example
// "ERR value is not an integer or out of range" or "WRONGTYPE Operation against a key
// holding the wrong kind of value"; it must not contain CR or LF.
func (r *Reply) Error(msg string) { r.buf = resp.AppendError(r.buf, msg) }

// Array writes the header of an array of n elements.
func (r *Reply) Array(n int) { r.buf = resp.AppendArrayHeader(r.buf, n) }

// Map writes the header of a map of n key/value pairs: %n in RESP3, an array of 2n
// elements in RESP2 (HGETALL, CONFIG GET).
func (r *Reply) Map(n int) {
	if r.proto == 3 {
		r.buf = append(r.buf, '%')
		r.buf = strconv.AppendInt(r.buf, int64(n), 10)
		r.buf = append(r.buf, '\r', '\n')
		return
	}
	r.Array(2 * n)
}

// Set writes the header of a set of n elements: ~n in RESP3, an array in RESP2
// (SMEMBERS, SINTER, SUNION, SDIFF).
func (r *Reply) Set(n int) {
	if r.proto == 3 {
		r.buf = append(r.buf, '~')
		r.buf = strconv.AppendInt(r.buf, int64(n), 10)
		r.buf = append(r.buf, '\r', '\n')
		return
	}
	r.Array(n)
}

// Raw appends bytes that are already RESP.
func (r *Reply) Raw(b []byte) { r.buf = append(r.buf, b...) }
