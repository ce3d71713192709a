package redcon

import (
	"bytes"
	"io"
	"math"
	"sync"
	"syscall"
)

// Redis 7.0's limits on requests (server.h, networking.c), so that what Redis refuses is
// refused here, in the same words.
const (
	maxInline    = 64 << 10  // PROTO_INLINE_MAX_SIZE: longest line still without its end
	maxMultibulk = 1<<31 - 1 // INT_MAX: most arguments in one command
	maxBulk      = 512 << 20 // proto-max-bulk-len's default: longest argument
	longStrSize  = 21        // LONG_STR_SIZE: string2ll refuses longer numbers
)

const (
	// bufSize is the read buffer a connection takes from a pool for a batch that
	// fits in it; between batches an idle connection holds none (Linux).
	bufSize = 4096
	// maxReadAhead bounds what one read round takes (its first read included) when
	// the socket says more is waiting: about the largest batch a handler gets.
	maxReadAhead = 1 << 20
	// maxKeptCmds bounds the scratch slices a Reader keeps between batches.
	maxKeptCmds = 256
)

type errProtocol struct {
	msg string
}

func (err *errProtocol) Error() string {
	return "Protocol error: " + err.msg
}

var (
	errUnbalancedQuotes       = &errProtocol{"unbalanced quotes in request"}
	errInvalidBulkLength      = &errProtocol{"invalid bulk length"}
	errInvalidMultiBulkLength = &errProtocol{"invalid multibulk length"}
	errTooBigInline           = &errProtocol{"too big inline request"}
	errTooBigMbulkCount       = &errProtocol{"too big mbulk count string"}
	errTooBigBulkCount        = &errProtocol{"too big bulk count string"}
)

// errExpectedDollar is Redis' error for an argument that is not a bulk string. Redis
// prints the byte raw, except CR and LF, which its error replies turn into spaces.
func errExpectedDollar(c byte) error {
	if c == '\r' || c == '\n' {
		c = ' '
	}
	return &errProtocol{"expected '$', got '" + string([]byte{c}) + "'"}
}

var bufPool = sync.Pool{New: func() any { return new([bufSize]byte) }}

// Reader reads RESP and inline (telnet) commands, as Redis 7.0 parses them:
//
//   - "*0" and negative counts are empty requests, skipped without a reply;
//   - numbers follow Redis' string2ll (no sign "+", no leading zeros, no "-0");
//   - a line ends at its CR, and the byte after it is skipped unseen, as are the two
//     bytes after a bulk string's data (such a command is re-encoded in Raw);
//   - a line with a NUL byte before its end is incomplete (Redis searches with
//     strchr), until 64 KiB are waiting without an end: then it is a protocol error;
//   - inline commands are split as sdssplitargs splits them (quotes, \xHH escapes);
//   - counts above INT_MAX and bulk lengths above 512 MiB are protocol errors.
//
// The commands before a protocol error are returned first; the error comes on the
// next call, so a server answers them before it reports the error, as Redis does.
//
// On Linux, for TCP and Unix connections, a read that fills the buffer is followed by
// FIONREAD: whatever the client has already sent (up to 1 MiB a round) is read at once,
// so a pipeline reaches the handler as one batch however large it is. Between
// batches such a connection holds no read buffer.
type Reader struct {
	rd     io.Reader
	raw    syscall.RawConn // Linux TCP/Unix connections; nil: plain Reads
	readFn func(fd uintptr) bool
	rerr   error // readFn's result

	buf    []byte
	pooled *[bufSize]byte // buf is this array, from bufPool; nil: buf is our own
	start  int            // buf[start:end] is read but not returned yet
	end    int

	part   partial   // the multibulk command the data ended in
	recs   []rec     // complete commands of the batch being parsed
	marks  []int     // argument bounds: pairs, relative to their command's start
	inline []Command // inline commands of the batch, built as parsed

	cmds []Command // the batch returned last (the backing array is reused)
	next int       // ReadCommand's position in cmds
	err  error     // protocol error held back until the commands before it are out
}

// rec is one complete command found in the batch.
type rec struct {
	off, end int  // its bytes, relative to the start of the batch
	marks    int  // index in marks of its first argument's bounds
	nargs    int  // arguments
	quirky   bool // valid for Redis but not as Redis writes it: Raw is re-encoded
	inline   int  // >0: the command is inline[inline-1]
}

// partial is the progress of a multibulk command that is not complete yet, so the next
// read resumes where parsing stopped rather than starting the command again.
type partial struct {
	active      bool
	count, done int  // arguments announced and read
	pos         int  // next byte to parse, relative to the command's start
	quirky      bool // as in rec
	marks       int  // index in marks of its first argument's bounds
}

// NewReader returns a command reader which will read RESP or telnet commands.
func NewReader(rd io.Reader) *Reader {
	r := &Reader{rd: rd, raw: rawConn(rd)}
	if r.raw != nil {
		r.readFn = r.readRaw // bound once: a method value allocates
	}
	return r
}

// ReadCommands returns the next batch: every complete command the client has sent
// so far (at least one). The slice is reused by the next call; the Commands in it
// are the caller's.
func (rd *Reader) ReadCommands() ([]Command, error) {
	// Drop the previous batch's references first, so that a connection waiting
	// for its next command does not keep the last one's bytes alive.
	clear(rd.cmds)
	if cap(rd.cmds) > maxKeptCmds {
		rd.cmds = nil
	}
	rd.cmds, rd.next = rd.cmds[:0], 0
	for {
		if rd.err != nil {
			return nil, rd.err
		}
		if rd.start < rd.end {
			n, err := rd.parse()
			if len(rd.recs) > 0 {
				rd.err = err
				return rd.handOut(n), nil
			}
			rd.start += n // empty requests ("*0", blank lines): nothing to return
			if err != nil {
				rd.err = err
				return nil, err
			}
		}
		if err := rd.fill(); err != nil {
			return nil, err
		}
	}
}

// ReadCommand reads the next command.
func (rd *Reader) ReadCommand() (Command, error) {
	if rd.next < len(rd.cmds) {
		cmd := rd.cmds[rd.next]
		rd.next++
		return cmd, nil
	}
	cmds, err := rd.ReadCommands()
	if err != nil {
		return Command{}, err
	}
	rd.next = 1
	return cmds[0], nil
}

// parse finds the complete commands in buf[start:end] and returns how many bytes
// they (and any empty requests among them) take. The error, if any, is about the
// bytes that follow.
func (rd *Reader) parse() (int, error) {
	b := rd.buf[rd.start:rd.end]
	p := 0
	for p < len(b) {
		var next int
		var err error
		if rd.part.active || b[p] == '*' {
			next, err = rd.parseMultibulk(b, p)
		} else {
			next, err = rd.parseInline(b, p)
		}
		if err != nil || next < 0 {
			return p, err
		}
		p = next
	}
	return p, nil
}

// parseMultibulk parses the command at b[p:] as Redis' processMultibulkBuffer does.
// It returns where the next command starts, or -1 if this one is incomplete.
func (rd *Reader) parseMultibulk(b []byte, p int) (int, error) {
	c := b[p:]
	pt := &rd.part
	if !pt.active {
		nl := lineEnd(c)
		if nl < 0 {
			if len(c) > maxInline {
				return 0, errTooBigMbulkCount
			}
			return -1, nil
		}
		if nl+2 > len(c) {
			return -1, nil // the byte after CR has not arrived
		}
		n, ok := string2ll(c[1:nl])
		if !ok || n > maxMultibulk {
			return 0, errInvalidMultiBulkLength
		}
		if n <= 0 {
			return p + nl + 2, nil // Redis skips an empty request
		}
		*pt = partial{active: true, count: int(n), pos: nl + 2, quirky: c[nl+1] != '\n', marks: len(rd.marks)}
	}
	for pt.done < pt.count {
		q := pt.pos
		l := c[q:]
		nl := lineEnd(l)
		if nl < 0 {
			if len(l) > maxInline {
				rd.dropPartial()
				return 0, errTooBigBulkCount
			}
			return -1, nil
		}
		if nl+2 > len(l) {
			return -1, nil
		}
		if l[0] != '$' {
			rd.dropPartial()
			return 0, errExpectedDollar(l[0])
		}
		n, ok := string2ll(l[1:nl])
		if !ok || n < 0 || n > maxBulk {
			rd.dropPartial()
			return 0, errInvalidBulkLength
		}
		lo := q + nl + 2
		hi := lo + int(n)
		if hi+2 > len(c) {
			return -1, nil
		}
		if l[nl+1] != '\n' || c[hi] != '\r' || c[hi+1] != '\n' {
			pt.quirky = true
		}
		rd.marks = append(rd.marks, lo, hi)
		pt.done++
		pt.pos = hi + 2
	}
	rd.recs = append(rd.recs, rec{off: p, end: p + pt.pos, marks: pt.marks, nargs: pt.count, quirky: pt.quirky})
	next := p + pt.pos
	*pt = partial{}
	return next, nil
}

func (rd *Reader) dropPartial() {
	rd.marks = rd.marks[:rd.part.marks]
	rd.part = partial{}
}

// parseInline parses the inline command at b[p:] as Redis' processInlineBuffer does.
// It returns where the next command starts, or -1 if this one is incomplete.
func (rd *Reader) parseInline(b []byte, p int) (int, error) {
	c := b[p:]
	i := bytes.IndexByte(c, '\n')
	if i < 0 || bytes.IndexByte(c[:i], 0) >= 0 {
		if len(c) > maxInline {
			return 0, errTooBigInline
		}
		return -1, nil
	}
	line := c[:i]
	if i > 0 && c[i-1] == '\r' {
		line = c[:i-1]
	}
	args, ok := splitArgs(line)
	if !ok {
		return 0, errUnbalancedQuotes
	}
	if len(args) > 0 {
		rd.inline = append(rd.inline, newCommand(args))
		rd.recs = append(rd.recs, rec{off: p, end: p + i + 1, inline: len(rd.inline)})
	}
	return p + i + 1, nil
}

// handOut returns the commands parsed from the first n bytes of buf[start:]. They get
// one copy of those bytes and one slice of argument headers between them; a buffer
// grown for this batch is handed out as it is, and what follows moves to another.
func (rd *Reader) handOut(n int) []Command {
	base := rd.start
	total := 0
	for _, r := range rd.recs {
		if r.inline == 0 {
			total += r.nargs
		}
	}
	var arena []byte
	moved := false
	if total > 0 {
		if rd.pooled == nil && n > rd.end-(base+n) {
			arena = rd.buf[base : base+n : base+n]
			moved = true
		} else {
			arena = bytes.Clone(rd.buf[base : base+n])
		}
	}
	slab := make([][]byte, total)
	cmds := rd.cmds[:0]
	for _, r := range rd.recs {
		if r.inline > 0 {
			cmds = append(cmds, rd.inline[r.inline-1])
			continue
		}
		// Three-index slices everywhere: appending to one command's Raw or Args
		// must not write over the next command's.
		args := slab[:r.nargs:r.nargs]
		slab = slab[r.nargs:]
		m := rd.marks[r.marks : r.marks+2*r.nargs]
		for j := range args {
			lo, hi := r.off+m[2*j], r.off+m[2*j+1]
			args[j] = arena[lo:hi:hi]
		}
		if r.quirky {
			cmds = append(cmds, newCommand(args))
			continue
		}
		cmds = append(cmds, Command{Raw: arena[r.off:r.end:r.end], Args: args})
	}
	if rd.part.active {
		k := copy(rd.marks, rd.marks[rd.part.marks:])
		rd.marks, rd.part.marks = rd.marks[:k], 0
	} else if cap(rd.marks) > 2*maxKeptCmds {
		rd.marks = nil
	} else {
		rd.marks = rd.marks[:0]
	}
	if cap(rd.recs) > maxKeptCmds {
		rd.recs = nil
	} else {
		rd.recs = rd.recs[:0]
	}
	clear(rd.inline)
	if cap(rd.inline) > maxKeptCmds {
		rd.inline = nil
	} else {
		rd.inline = rd.inline[:0]
	}
	rd.start = base + n
	if moved {
		rd.moveTail()
	}
	rd.cmds, rd.next = cmds, len(cmds)
	return cmds
}

// moveTail moves the unparsed bytes to a buffer of their own, after buf was handed out.
func (rd *Reader) moveTail() {
	tail := rd.buf[rd.start:rd.end]
	rd.buf, rd.start, rd.end = nil, 0, 0
	switch {
	case len(tail) == 0:
	case len(tail) <= bufSize/2:
		rd.usePooled()
	default:
		rd.buf = make([]byte, 2*len(tail))
	}
	rd.end = copy(rd.buf, tail)
}

// fill reads more bytes into buf[end:], making room first.
func (rd *Reader) fill() error {
	if rd.start == rd.end {
		rd.start, rd.end = 0, 0
		if rd.pooled == nil {
			rd.buf = nil // a buffer grown for a large batch goes between batches
		}
	} else if rd.start > 0 {
		// Never handed out (handOut copies or moves), so it can be moved.
		rd.end = copy(rd.buf, rd.buf[rd.start:rd.end])
		rd.start = 0
	}
	if rd.buf != nil && rd.end == len(rd.buf) {
		rd.grow(len(rd.buf))
	}
	if rd.raw != nil {
		rd.rerr = nil
		if err := rd.raw.Read(rd.readFn); err != nil {
			return err
		}
		return rd.rerr
	}
	if rd.buf == nil {
		rd.usePooled()
	}
	n, err := rd.rd.Read(rd.buf[rd.end:])
	rd.end += n
	if n > 0 {
		return nil // the error, if it lasts, comes with the next read
	}
	return err
}

// grow replaces buf with one that has at least extra free bytes after the unparsed
// ones, at least doubling, so a large command arriving in many reads is copied a
// bounded number of times.
func (rd *Reader) grow(extra int) {
	n := rd.end - rd.start
	size := max(n+extra, 2*n, 2*bufSize)
	nb := make([]byte, size)
	copy(nb, rd.buf[rd.start:rd.end])
	if rd.pooled != nil {
		bufPool.Put(rd.pooled)
		rd.pooled = nil
	}
	rd.buf, rd.start, rd.end = nb, 0, n
}

func (rd *Reader) usePooled() {
	rd.pooled = bufPool.Get().(*[bufSize]byte)
	rd.buf = rd.pooled[:]
}

// release gives the pooled buffer back, with whatever it holds.
func (rd *Reader) release() {
	if rd.pooled != nil {
		bufPool.Put(rd.pooled)
		rd.pooled = nil
		rd.buf, rd.start, rd.end = nil, 0, 0
	}
}

// lineEnd returns the index of the CR that ends the line at the start of b, or -1:
// Redis finds it with strchr, which stops at a NUL byte.
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\r')
	if i < 0 || bytes.IndexByte(b[:i], 0) >= 0 {
		return -1
	}
	return i
}

// string2ll is Redis' string2ll: a decimal integer with an optional "-", no leading
// zeros, no "+", no spaces, at most 20 bytes.
func string2ll(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) >= longStrSize {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	i, neg := 0, false
	if b[0] == '-' {
		neg = true
		i++
		if i == len(b) {
			return 0, false
		}
	}
	if b[i] < '1' || b[i] > '9' {
		return 0, false
	}
	v := uint64(b[i] - '0')
	for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if v > math.MaxUint64/10 || v*10 > math.MaxUint64-d {
			return 0, false
		}
		v = v*10 + d
	}
	if i < len(b) {
		return 0, false
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true // two's complement: -(1<<63) is MinInt64
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// splitArgs splits an inline command line as Redis' sdssplitargs does. The line holds
// no NUL byte (parseInline stops before one), so NUL stands for its end here.
func splitArgs(line []byte) ([][]byte, bool) {
	at := func(i int) byte {
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	var args [][]byte
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			return args, true
		}
		cur := []byte{}
		inq, insq, done := false, false, false
		for !done {
			ch := at(i)
			switch {
			case inq:
				switch {
				case ch == '\\' && at(i+1) == 'x' && isHex(at(i+2)) && isHex(at(i+3)):
					cur = append(cur, unhex(at(i+2))<<4|unhex(at(i+3)))
					i += 3
				case ch == '\\' && at(i+1) != 0:
					i++
					c := at(i)
					switch c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					cur = append(cur, c)
				case ch == '"':
					// A closing quote must be followed by a space or the end.
					if next := at(i + 1); next != 0 && !isSpace(next) {
						return nil, false
					}
					done = true
				case ch == 0:
					return nil, false // unterminated quotes
				default:
					cur = append(cur, ch)
				}
			case insq:
				switch {
				case ch == '\\' && at(i+1) == '\'':
					i++
					cur = append(cur, '\'')
				case ch == '\'':
					if next := at(i + 1); next != 0 && !isSpace(next) {
						return nil, false
					}
					done = true
				case ch == 0:
					return nil, false
				default:
					cur = append(cur, ch)
				}
			default:
				switch ch {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					cur = append(cur, ch)
				}
			}
			if at(i) != 0 {
				i++
			}
		}
		args = append(args, cur)
	}
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// newCommand builds a command from args in canonical RESP, the arguments pointing
// into Raw (one exact-size allocation, so no append moves them).
func newCommand(args [][]byte) Command {
	size := 1 + 20 + 2
	for _, a := range args {
		size += 1 + 20 + 2 + len(a) + 2
	}
	raw := AppendArray(make([]byte, 0, size), len(args))
	out := make([][]byte, len(args))
	for i, a := range args {
		raw = appendPrefix(raw, '$', int64(len(a)))
		lo := len(raw)
		raw = append(raw, a...)
		out[i] = raw[lo:len(raw):len(raw)]
		raw = append(raw, '\r', '\n')
	}
	return Command{Raw: raw[:len(raw):len(raw)], Args: out}
}
