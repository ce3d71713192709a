package upstream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"hotswap/internal/rawio"
	"hotswap/resp"
)

// Call is one batch of commands sent together on one connection, and the replies to
// them. A session reuses one Call for every batch it sends (it has at most one in
// flight), so the steady state allocates nothing.
type Call struct {
	// Buf holds the raw replies, back to back; Ends[i] is where reply i ends.
	Buf  []byte
	Ends []int
	// Err is set when the connection failed before every reply arrived; the replies
	// that did arrive are in Buf and Ends.
	Err error

	n    int // replies expected
	done chan struct{}
}

// NewCall returns a Call ready for Conn.Send.
func NewCall() *Call { return &Call{done: make(chan struct{}, 1)} }

// Done is signalled once every reply has arrived or the connection failed.
func (c *Call) Done() <-chan struct{} { return c.done }

// Reply returns reply i.
func (c *Call) Reply(i int) []byte {
	start := 0
	if i > 0 {
		start = c.Ends[i-1]
	}
	return c.Buf[start:c.Ends[i]]
}

// Len is the number of replies received.
func (c *Call) Len() int { return len(c.Ends) }

func (c *Call) reset(n int) {
	if cap(c.Buf) > maxKeptBuf {
		c.Buf = nil
	}
	c.Buf = c.Buf[:0]
	c.Ends = c.Ends[:0]
	c.Err = nil
	c.n = n
	select { // drain a stale signal, if any
	case <-c.done:
	default:
	}
}

// Sink receives every frame a connection reads while it is in push mode (pub/sub,
// MONITOR): replies and pushed messages alike, in order. Frame's argument is only
// valid during the call. Flush is called after each read's frames.
type Sink interface {
	Frame(b []byte) error
	Flush() error
}

const (
	readBufSize = 16 << 10
	maxKeptBuf  = 1 << 20 // buffers grown past this by a large value are dropped after use
)

// Conn is one connection to Redis. Sends are pipelined: a Send appends to a write
// buffer and a writer goroutine writes everything pending in one syscall, so
// concurrent clients' commands share writes. One reader goroutine frames replies and
// hands them to the calls in send order.
type Conn struct {
	pool *Pool
	key  Key
	nc   net.Conn
	// rio, when not nil, is how the reader and the writer goroutines use nc: raw
	// system calls that keep the scheduler's P (see hotswap/internal/rawio). nil for TLS.
	rio io.ReadWriter

	mu     sync.Mutex
	wbuf   []byte
	spare  []byte
	wake   chan struct{} // tells writeLoop there is something to write
	queue  []*Call       // calls awaiting replies, oldest first
	head   int
	closed bool
	err    error
	sink   Sink

	pending  atomic.Int32  // replies still expected, for the watchdog and Stats
	queued   atomic.Uint64 // Sends so far, for the writer's batching
	progress atomic.Uint64 // reads completed, for the watchdog
	blocking atomic.Bool   // a blocking command is in flight: no read timeout
	stalled  int           // watchdog ticks without progress (watchdog goroutine only)
	seen     uint64        // progress at the last tick (watchdog goroutine only)
	closedCh chan struct{}
}

// newConn wraps a connection that completed its handshake.
func newConn(p *Pool, key Key, nc net.Conn) *Conn {
	c := &Conn{pool: p, key: key, nc: nc, rio: nc, closedCh: make(chan struct{}), wake: make(chan struct{}, 1)}
	if rw := rawio.New(nc); rw != nil {
		c.rio = rw
	}
	return c
}

// ErrClosed is returned by Send on a connection that has been closed.
var ErrClosed = errors.New("upstream connection closed")

// Send queues cmds (each one RESP-encoded command) and the call that will collect
// their replies. It does not wait for the replies: wait on call.Done().
// A Send that fails leaves call untouched.
func (c *Conn) Send(call *Call, n int, cmds ...[]byte) error {
	call.reset(n)
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		return err
	}
	for _, b := range cmds {
		c.wbuf = append(c.wbuf, b...)
	}
	if n > 0 {
		c.queue = append(c.queue, call)
		c.pending.Add(int32(n))
	}
	c.queued.Add(1)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // the writer is already due to run
	}
	return nil
}

// writeLoop writes whatever senders queued. Before taking the buffer it yields once,
// so that clients woken by the replies just delivered can queue their next commands
// and go out in the same write: fewer, larger writes for Redis to read (group commit).
func (c *Conn) writeLoop() {
	for {
		select {
		case <-c.wake:
		case <-c.closedCh:
			return
		}
		// Yield while others keep adding: each round lets the clients that became
		// runnable meanwhile queue their commands into this write.
		for i, n := 0, c.queued.Load(); i < 4; i++ {
			runtime.Gosched()
			m := c.queued.Load()
			if m == n {
				break
			}
			n = m
		}
		c.mu.Lock()
		if len(c.wbuf) == 0 {
			c.mu.Unlock()
			continue
		}
		// Swap buffers: senders append to the spare while this one is written.
		out := c.wbuf
		c.wbuf, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		_, err := c.rio.Write(out)
		if err != nil {
			c.fail(fmt.Errorf("write: %w", err))
			return
		}
		c.mu.Lock()
		if cap(out) <= maxKeptBuf {
			c.spare = out[:0]
		} else {
			c.spare = nil
		}
		c.mu.Unlock()
	}
}

// SendRaw writes b without expecting replies (push mode: the sink gets them).
func (c *Conn) SendRaw(b []byte) error {
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()
	_, err := c.nc.Write(b)
	if err != nil {
		c.fail(fmt.Errorf("write: %w", err))
		return c.Err()
	}
	return nil
}

// SetSink switches the connection to push mode: from now on every frame goes to s.
// Call it before sending the command that starts the push stream, with no call pending.
func (c *Conn) SetSink(s Sink) {
	c.mu.Lock()
	c.sink = s
	c.mu.Unlock()
}

// SetBlocking marks a blocking command in flight (no read timeout applies).
func (c *Conn) SetBlocking(b bool) { c.blocking.Store(b) }

// Err returns why the connection closed, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		return nil
	}
	return c.err
}

// Closed is closed when the connection is.
func (c *Conn) Closed() <-chan struct{} { return c.closedCh }

// Key returns what the connection is authenticated and selected as.
func (c *Conn) Key() Key { return c.key }

// Close closes the connection; calls still waiting get err.
func (c *Conn) Close(err error) { c.fail(err) }

func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.err = &UnavailableError{Addr: c.pool.opts.Addr, Err: err}
	queue := c.queue[c.head:]
	c.queue, c.head = nil, 0
	c.pending.Store(0)
	c.mu.Unlock()
	_ = c.nc.Close()
	close(c.closedCh)
	for _, call := range queue {
		call.Err = c.err
		call.done <- struct{}{}
	}
	c.pool.forget(c)
}

func (c *Conn) readLoop() {
	buf := make([]byte, readBufSize)
	r, w := 0, 0
	var sc resp.Scanner
	var frames []int // end offsets (absolute in buf) of frames framed in this read
	var done []*Call
	for {
		if r == w {
			r, w = 0, 0
			if len(buf) > maxKeptBuf {
				buf = make([]byte, readBufSize)
			}
		}
		if w == len(buf) {
			if r > 0 {
				w = copy(buf, buf[r:w])
				r = 0
			} else {
				nb := make([]byte, 2*len(buf))
				copy(nb, buf[:w])
				buf = nb
			}
		}
		n, err := c.rio.Read(buf[w:])
		if err != nil {
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		w += n
		c.progress.Add(1)
		frames = frames[:0]
		start := r
		for r < w {
			m, err := sc.Scan(buf[r:w])
			if err != nil {
				c.fail(err)
				return
			}
			if m == 0 {
				break
			}
			sc.Reset()
			r += m
			frames = append(frames, r)
		}
		if len(frames) == 0 {
			continue
		}
		c.mu.Lock()
		sink := c.sink
		if sink != nil {
			c.mu.Unlock()
			if err := c.push(sink, buf, start, frames); err != nil {
				c.fail(err)
				return
			}
			continue
		}
		done = done[:0]
		from := start
		for _, end := range frames {
			if c.head == len(c.queue) {
				c.mu.Unlock()
				c.fail(fmt.Errorf("unexpected reply %.64q with no command waiting", buf[from:end]))
				return
			}
			call := c.queue[c.head]
			call.Buf = append(call.Buf, buf[from:end]...)
			call.Ends = append(call.Ends, len(call.Buf))
			from = end
			if len(call.Ends) == call.n {
				c.queue[c.head] = nil
				c.head++
				done = append(done, call)
			}
		}
		if c.head == len(c.queue) {
			c.queue, c.head = c.queue[:0], 0
		}
		c.pending.Add(-int32(len(frames)))
		c.mu.Unlock()
		for _, call := range done {
			call.done <- struct{}{}
		}
	}
}

func (c *Conn) push(sink Sink, buf []byte, from int, frames []int) error {
	for _, end := range frames {
		if err := sink.Frame(buf[from:end]); err != nil {
			return err
		}
		from = end
	}
	return sink.Flush()
}
