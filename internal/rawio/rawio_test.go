package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestNewOnlyForSockets(t *testing.T) {
	a, _ := tcpPair(t)
	if runtime.GOOS == "linux" && New(a) == nil {
		t.Fatal("New(TCP) = nil on Linux")
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if New(p1) != nil {
		t.Fatal("New(net.Pipe) != nil")
	}
}

// A write far larger than the socket buffers goes out in chunks, waiting in the poller
// for room while the peer reads slowly, and arrives intact.
func TestLargeWriteAndRead(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw calls are Linux only")
	}
	a, b := tcpPair(t)
	wa, rb := New(a), New(b)
	want := bytes.Repeat([]byte("0123456789abcdef"), (8<<20)/16+3)
	errc := make(chan error, 1)
	go func() {
		n, err := wa.Write(want)
		if err == nil && n != len(want) {
			err = io.ErrShortWrite
		}
		errc <- err
	}()
	got := make([]byte, 0, len(want))
	buf := make([]byte, 1000) // small reads: the writer must wait for room
	for len(got) < len(want) {
		n, err := rb.Read(buf)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes differ")
	}
}

func TestReadWaitsThenEOF(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw calls are Linux only")
	}
	a, b := tcpPair(t)
	rb := New(b)
	go func() {
		time.Sleep(50 * time.Millisecond) // the read waits in the poller first
		a.Write([]byte("hello"))
		a.Close()
	}()
	buf := make([]byte, 64)
	n, err := rb.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	if n, err := rb.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read at end = %d, %v; want 0, EOF", n, err)
	}
	if n, err := rb.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
}

func TestDeadlineAndClose(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw calls are Linux only")
	}
	_, b := tcpPair(t)
	rb := New(b)
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := rb.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past deadline: %v", err)
	}
	b.SetReadDeadline(time.Time{})
	go func() { time.Sleep(20 * time.Millisecond); b.Close() }()
	if _, err := rb.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read of a closed conn: %v", err)
	}
	if _, err := rb.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write to a closed conn: %v", err)
	}
}

// A write to a peer that reset the connection fails with the system's error, not a
// hang and not a signal.
func TestWriteToResetPeer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw calls are Linux only")
	}
	a, b := tcpPair(t)
	wb := New(b)
	a.(*net.TCPConn).SetLinger(0)
	a.Close() // RST
	time.Sleep(20 * time.Millisecond)
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = wb.Write([]byte("PING\r\n"))
	}
	if err == nil {
		t.Fatal("writes to a reset peer kept succeeding")
	}
}
