package redcon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
)

// parseCase is one request and what Redis 7.0.15 makes of it (checked against a live
// redis-server by proxy's TestServer_ProtocolEdgeCases): the arguments of each
// command it runs, then the protocol error it answers and closes the connection with
// ("" if none: Redis keeps waiting for more bytes).
type parseCase struct {
	in   string
	cmds [][]string
	err  string
}

var parseCases = []parseCase{
	{"*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}, ""},
	{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"GET", "k"}, {"PING"}}, ""},
	{"*0\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}, ""},
	{"*-1\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}, ""},
	{"*-5\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}, ""},
	{"*-0\r\n", nil, "invalid multibulk length"},
	{"*+1\r\n$4\r\nPING\r\n", nil, "invalid multibulk length"},
	{"*01\r\n$4\r\nPING\r\n", nil, "invalid multibulk length"},
	{"*\r\n", nil, "invalid multibulk length"},
	{"*x\r\n", nil, "invalid multibulk length"},
	{"*1 \r\n$4\r\nPING\r\n", nil, "invalid multibulk length"},
	{"*1\n$4\r\nPING\r\n", nil, "invalid multibulk length"},
	{"*2147483648\r\n", nil, "invalid multibulk length"},
	{"*2147483647\r\n", nil, ""},
	{"*1\rX$4\r\nPING\r\n", [][]string{{"PING"}}, ""},
	{"*1\r\n$4\rXPING\r\n", [][]string{{"PING"}}, ""},
	{"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}, {"PING"}}, ""},
	{"*1\r\n$3\r\nGETxx", [][]string{{"GET"}}, ""},
	{"*1\r\n$3\r\nGETx", nil, ""},
	{"*1\r\n$-1\r\n", nil, "invalid bulk length"},
	{"*1\r\n$x\r\n", nil, "invalid bulk length"},
	{"*1\r\n$ 4\r\nPING\r\n", nil, "invalid bulk length"},
	{"*1\r\n$4\nPING\r\n", nil, "invalid bulk length"},
	{"*1\r\n$536870913\r\n", nil, "invalid bulk length"},
	{"*1\r\n$99999999999\r\n", nil, "invalid bulk length"},
	{"*1\r\n$536870912\r\n", nil, ""},
	{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-1\r\n", nil, "invalid bulk length"},
	{"*1\r\nx", nil, ""},
	{"*1\r\nx\r\n", nil, "expected '$', got 'x'"},
	{"*2\r\n$3\r\nGET\r\n:1\r\n", nil, "expected '$', got ':'"},
	{"*1\r\n\r\n", nil, "expected '$', got ' '"},
	{"*1\r\n\n\r\n", nil, "expected '$', got ' '"},
	{"*1\r\n\x80\r\n", nil, "expected '$', got '\x80'"},
	{"*1\x00\r\n$4\r\nPING\r\n", nil, ""},
	{"*1\r\n$4\x00\r\nPING\r\n", nil, ""},
	{"\x00\x01\x02\r\nPING\r\n", nil, ""},
	{"PING\x00 x\r\n", nil, ""},
	{"PING\r\n*x\r\n", [][]string{{"PING"}}, "invalid multibulk length"},
	{"PING\r\n*1\r\n$x\r\n", [][]string{{"PING"}}, "invalid bulk length"},
	{"\r\n\r\n\nPING\r\n", [][]string{{"PING"}}, ""},
	{"PING\n", [][]string{{"PING"}}, ""},
	{"ECHO \"a\\x41\\n\"\r\n", [][]string{{"ECHO", "aA\n"}}, ""},
	{"ECHO 'a\\'b'\r\n", [][]string{{"ECHO", "a'b"}}, ""},
	{"ECHO \"a\"b\r\n", nil, "unbalanced quotes in request"},
	{"ECHO a\"b c\"\r\n", [][]string{{"ECHO", "ab c"}}, ""},
	{"ECHO a'b c'\r\n", [][]string{{"ECHO", "ab c"}}, ""},
	{"ECHO \"a\r\n", nil, "unbalanced quotes in request"},
	{"ECHO 'a\r\n", nil, "unbalanced quotes in request"},
	{"SET \"unbalanced\r\n", nil, "unbalanced quotes in request"},
	{"ECHO\ta\r\n", [][]string{{"ECHO", "a"}}, ""},
	{"ECHO\va\r\n", [][]string{{"ECHO\va"}}, ""},
	{"ECHO a\rb\n", [][]string{{"ECHO", "a", "b"}}, ""},
	{"  ECHO   x  \r\n", [][]string{{"ECHO", "x"}}, ""},
	{"ECHO \"\"\r\n", [][]string{{"ECHO", ""}}, ""},
	{"ECHO \"a\\q\\\"\"\r\n", [][]string{{"ECHO", "aq\""}}, ""},
	{"ECHO \"\\x4g\"\r\n", [][]string{{"ECHO", "x4g"}}, ""},
	{"ECHO \"a\"\t\r\n", [][]string{{"ECHO", "a"}}, ""},
	{"ECHO \"\\b\\a\\t\\r\"\r\n", [][]string{{"ECHO", "\b\a\t\r"}}, ""},
	{"ECHO \"a\\\"\r\n", nil, "unbalanced quotes in request"},
	{"*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n*1\r\n$4\r\nPING", [][]string{{"ECHO", "abc"}}, ""},
	{strings.Repeat("a", maxInline), nil, ""},
	{strings.Repeat("a", maxInline+1), nil, "too big inline request"},
	{"*" + strings.Repeat("1", maxInline), nil, "too big mbulk count string"},
	{"*1\r\n$" + strings.Repeat("1", maxInline-1), nil, ""},
	{"*1\r\n$" + strings.Repeat("1", maxInline), nil, "too big bulk count string"},
}

// readAll reads in from r until it errors or has nothing more to give, and returns the
// commands and the protocol error ("" when the input ran out first).
func readAll(t *testing.T, rd *Reader) ([]Command, string) {
	t.Helper()
	var got []Command
	for {
		cmds, err := rd.ReadCommands()
		got = append(got, cmds...)
		var perr *errProtocol
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
			return got, ""
		case errors.As(err, &perr):
			return got, perr.msg
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
}

// chunkReader returns its input a few bytes per Read.
type chunkReader struct {
	b   []byte
	max int
	rnd *rand.Rand
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := 1 + r.rnd.IntN(r.max)
	n = min(n, len(p), len(r.b))
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

func argsOf(cmds []Command) [][]string {
	var out [][]string
	for _, c := range cmds {
		var a []string
		for _, arg := range c.Args {
			a = append(a, string(arg))
		}
		out = append(out, a)
	}
	return out
}

// Every case parses as Redis does, whether the bytes come at once or a few at a time.
func TestReader_RedisCompatible(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, tc := range parseCases {
		name := fmt.Sprintf("%.40q", tc.in)
		for _, chunk := range []int{len(tc.in) + 1, 1, 3, 7} {
			rd := NewReader(&chunkReader{b: []byte(tc.in), max: chunk, rnd: rnd})
			cmds, err := readAll(t, rd)
			if got := argsOf(cmds); fmt.Sprint(got) != fmt.Sprint(tc.cmds) || err != tc.err {
				t.Errorf("%s in chunks of up to %d: got %q, %q; want %q, %q", name, chunk, got, err, tc.cmds, tc.err)
				break
			}
			for _, c := range cmds {
				// Raw is always canonical RESP, whatever form Redis accepted.
				if want := newCommand(c.Args).Raw; !bytes.Equal(c.Raw, want) {
					t.Errorf("%s: Raw %q, want %q", name, c.Raw, want)
				}
			}
		}
	}
}

// A protocol error is returned after the commands before it, and again on every call.
func TestReader_ErrorAfterCommands(t *testing.T) {
	rd := NewReader(strings.NewReader("PING\r\n*1\r\n$4\r\nECHO\r\n*x\r\nPING\r\n"))
	cmds, err := rd.ReadCommands()
	if err != nil || len(cmds) != 2 {
		t.Fatalf("first call: %q, %v; want the two commands", argsOf(cmds), err)
	}
	for i := 0; i < 2; i++ {
		if _, err := rd.ReadCommands(); err == nil || err.Error() != "Protocol error: invalid multibulk length" {
			t.Fatalf("call %d: %v", i+2, err)
		}
	}
}

// Commands read as RESP keep the client's bytes as Raw; appending to one command's
// Raw or Args does not write over another's.
func TestReader_RawAndIsolation(t *testing.T) {
	in := "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$2\r\nxy\r\n"
	rd := NewReader(strings.NewReader(in))
	cmds, err := rd.ReadCommands()
	if err != nil || len(cmds) != 2 {
		t.Fatal(cmds, err)
	}
	if string(cmds[0].Raw)+string(cmds[1].Raw) != in {
		t.Fatalf("Raw %q %q", cmds[0].Raw, cmds[1].Raw)
	}
	_ = append(cmds[0].Raw, "XXXXXXXX"...)
	_ = append(cmds[0].Args[1], "YYYY"...)
	_ = append(cmds[0].Args, []byte("extra"))
	if string(cmds[1].Raw) != in[len(cmds[0].Raw):] || string(cmds[0].Args[1]) != "a" || string(cmds[1].Args[0]) != "SET" {
		t.Fatalf("appends leaked: %q %q", cmds[0].Args, cmds[1].Raw)
	}
	// The commands are the caller's: the next batch does not change them.
	rd = NewReader(io.MultiReader(strings.NewReader(in), strings.NewReader("*1\r\n$4\r\nPING\r\n")))
	first, _ := rd.ReadCommands()
	keep := first[1]
	if _, err := rd.ReadCommands(); err != nil {
		t.Fatal(err)
	}
	if string(keep.Raw) != in[len(cmds[0].Raw):] || string(keep.Args[2]) != "xy" {
		t.Fatalf("a kept command changed: %q", keep.Raw)
	}
}

// ReadCommand and ReadCommands share one queue: a command is returned once.
func TestReader_ReadCommand(t *testing.T) {
	rd := NewReader(strings.NewReader("A\r\nB\r\nC\r\n"))
	cmds, err := rd.ReadCommands()
	if err != nil || len(cmds) != 3 {
		t.Fatal(cmds, err)
	}
	if _, err := rd.ReadCommand(); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadCommand after ReadCommands: %v, want EOF", err)
	}
	rd = NewReader(strings.NewReader("A\r\nB\r\n"))
	for _, want := range []string{"A", "B"} {
		c, err := rd.ReadCommand()
		if err != nil || string(c.Args[0]) != want {
			t.Fatalf("ReadCommand = %q, %v; want %s", c.Args, err, want)
		}
	}
}

// Random commands of random sizes (some larger than the buffer) survive any chunking.
func TestReader_Random(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	var in []byte
	var want [][]string
	for i := 0; i < 2000; i++ {
		n := 1 + rnd.IntN(5)
		var args []string
		for j := 0; j < n; j++ {
			size := rnd.IntN(40)
			if rnd.IntN(50) == 0 {
				size = rnd.IntN(3 * bufSize)
			}
			b := make([]byte, size)
			for k := range b {
				b[k] = byte(rnd.IntN(256))
			}
			args = append(args, string(b))
		}
		want = append(want, args)
		bargs := make([][]byte, len(args))
		for j, a := range args {
			bargs[j] = []byte(a)
		}
		in = append(in, newCommand(bargs).Raw...)
	}
	for _, chunk := range []int{1 << 20, 10000, 100, 1} {
		rd := NewReader(&chunkReader{b: in, max: chunk, rnd: rnd})
		cmds, err := readAll(t, rd)
		if err != "" || fmt.Sprint(argsOf(cmds)) != fmt.Sprint(want) {
			t.Fatalf("chunks of %d: %d commands, %q", chunk, len(cmds), err)
		}
	}
}

// A batch of commands costs two allocations (their bytes and their Args headers),
// however many commands it holds.
func TestReader_AllocsPerBatch(t *testing.T) {
	var batch []byte
	for i := 0; i < 16; i++ {
		batch = append(batch, "*3\r\n$3\r\nSET\r\n$8\r\nkey:0001\r\n$10\r\nvalue00001\r\n"...)
	}
	src := &loopReader{b: batch}
	rd := NewReader(src)
	allocs := testing.AllocsPerRun(200, func() {
		cmds, err := rd.ReadCommands()
		if err != nil || len(cmds) != 16 {
			t.Fatal(len(cmds), err)
		}
	})
	if allocs > 2 {
		t.Fatalf("%.1f allocations per batch of 16 commands, want at most 2", allocs)
	}
}

// loopReader returns b on every Read.
type loopReader struct{ b []byte }

func (r *loopReader) Read(p []byte) (int, error) { return copy(p, r.b), nil }

// A pipeline the client has already sent is one batch, however many buffers it takes;
// what does not fit in one read round comes in the next.
func TestReader_ReadAheadTCP(t *testing.T) {
	if !rawReads {
		t.Skip("read-ahead is Linux-only")
	}
	for _, tc := range []struct {
		cmds, size int
	}{{16, 1300}, {100, 1000}} {
		t.Run(fmt.Sprintf("%dx%dB", tc.cmds, tc.size), func(t *testing.T) {
			server, client := tcpPair(t)
			var req []byte
			for i := 0; i < tc.cmds; i++ {
				req = append(req, newCommand([][]byte{[]byte("SET"), []byte(fmt.Sprint(i)), bytes.Repeat([]byte("v"), tc.size)}).Raw...)
			}
			if _, err := client.Write(req); err != nil {
				t.Fatal(err)
			}
			waitQueued(t, server, len(req))
			rd := NewReader(server)
			cmds, err := rd.ReadCommands()
			if err != nil || len(cmds) != tc.cmds {
				t.Fatalf("one read round got %d commands (%v), want all %d (%d bytes)", len(cmds), err, tc.cmds, len(req))
			}
			if len(rd.buf) > bufSize {
				t.Fatalf("the reader kept a %d-byte buffer after the batch", len(rd.buf))
			}
		})
	}
	// Larger than a round: the first batch stops near maxReadAhead; nothing is lost.
	server, client := tcpPair(t)
	one := newCommand([][]byte{[]byte("SET"), []byte("k"), bytes.Repeat([]byte("v"), 1000)}).Raw
	const n = 2000
	go func() {
		for i := 0; i < n; i++ {
			if _, err := client.Write(one); err != nil {
				return
			}
		}
		client.Close()
	}()
	rd := NewReader(server)
	got := 0
	for got < n {
		cmds, err := rd.ReadCommands()
		if err != nil {
			t.Fatalf("after %d commands: %v", got, err)
		}
		if len(cmds)*len(one) > maxReadAhead+len(one) {
			t.Fatalf("a batch of %d bytes, more than a round", len(cmds)*len(one))
		}
		for _, c := range cmds {
			if !bytes.Equal(c.Raw, one) {
				t.Fatalf("command %d mangled", got)
			}
			got++
		}
	}
	if _, err := rd.ReadCommands(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last command: %v, want EOF", err)
	}
}

func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

// waitQueued waits until the kernel holds n unread bytes for c.
func waitQueued(t *testing.T, c net.Conn, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if queued(t, c) >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d bytes not queued within 5s", n)
}

// FuzzReader: any input parses the same whether it comes at once or a few bytes at a
// time, and every command's Raw parses back to the same arguments.
// Run with: go test ./internal/redcon -run '^$' -fuzz FuzzReader -fuzztime 60s
func FuzzReader(f *testing.F) {
	for _, tc := range parseCases {
		if len(tc.in) < 1000 {
			f.Add([]byte(tc.in), uint8(3))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		whole, werr := readAll(t, NewReader(bytes.NewReader(in)))
		rnd := rand.New(rand.NewPCG(uint64(len(in)), uint64(chunk)))
		parts, perr := readAll(t, NewReader(&chunkReader{b: in, max: 1 + int(chunk), rnd: rnd}))
		if werr != perr || fmt.Sprint(argsOf(whole)) != fmt.Sprint(argsOf(parts)) {
			t.Fatalf("whole: %q %q; in chunks: %q %q", argsOf(whole), werr, argsOf(parts), perr)
		}
		for _, c := range whole {
			back, err := readAll(t, NewReader(bytes.NewReader(c.Raw)))
			if err != "" || len(back) != 1 || fmt.Sprint(argsOf(back)) != fmt.Sprint(argsOf([]Command{c})) {
				t.Fatalf("Raw %q parses as %q, %q", c.Raw, argsOf(back), err)
			}
		}
	})
}

// streamReader returns an endless repetition of b.
type streamReader struct {
	b   []byte
	off int
}

func (r *streamReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.b[r.off:])
		n += k
		r.off = (r.off + k) % len(r.b)
	}
	return n, nil
}

// BenchmarkReader reports the cost per command of parsing redis-benchmark's commands
// (-d 100), read 4 KiB at a time (no read-ahead: not a socket).
func BenchmarkReader(b *testing.B) {
	val := bytes.Repeat([]byte("x"), 100)
	set := newCommand([][]byte{[]byte("SET"), []byte("key:000000012345"), val}).Raw
	mset := [][]byte{[]byte("MSET")}
	for i := 0; i < 10; i++ {
		mset = append(mset, []byte("key:000000012345"), val)
	}
	for _, bc := range []struct {
		name string
		cmd  []byte
	}{{"SET", set}, {"MSET", newCommand(mset).Raw}} {
		b.Run(bc.name, func(b *testing.B) {
			rd := NewReader(&streamReader{b: bc.cmd})
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.cmd)))
			for n := 0; n < b.N; {
				cmds, err := rd.ReadCommands()
				if err != nil {
					b.Fatal(err)
				}
				n += len(cmds)
			}
		})
	}
}
