// Command idleconns opens many idle client connections to a Redis-protocol
// server, to measure how much memory the server spends per idle client.
//
// It opens -n TCP connections to -addr, sends one PING on each and waits for
// +PONG (so a proxy has really accepted and set up each client, not merely
// completed the TCP handshake in the kernel), prints "ready N" on stdout when
// all are open, then holds them until it is killed (SIGINT/SIGTERM) or until
// -duration has passed. It exits non-zero if any connection fails.
//
//	idleconns -addr 127.0.0.1:6380 [-n 5000] [-duration 0] [-parallel 64]
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const ping = "*1\r\n$4\r\nPING\r\n"

func main() {
	addr := flag.String("addr", "", "host:port of the server (required)")
	n := flag.Int("n", 5000, "number of connections to open")
	duration := flag.Duration("duration", 0, "how long to hold the connections once open (0: until killed)")
	parallel := flag.Int("parallel", 64, "connections being set up at the same time")
	timeout := flag.Duration("timeout", 10*time.Second, "timeout to dial and get +PONG on one connection")
	flag.Parse()
	if *addr == "" || *n < 1 || *parallel < 1 {
		flag.Usage()
		os.Exit(2)
	}

	conns := make([]net.Conn, *n)
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		failed   atomic.Int64
		errOnce  sync.Once
		firstErr error
	)
	start := time.Now()
	for w := 0; w < *parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *n || failed.Load() > 0 {
					return
				}
				c, err := open(*addr, *timeout)
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = fmt.Errorf("connection %d: %w", i, err) })
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		fmt.Fprintln(os.Stderr, "idleconns:", firstErr)
		closeAll(conns)
		os.Exit(1)
	}
	fmt.Printf("ready %d\n", *n)
	fmt.Fprintf(os.Stderr, "idleconns: %d connections to %s open in %v\n", *n, *addr, time.Since(start).Round(time.Millisecond))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var done <-chan time.Time
	if *duration > 0 {
		done = time.After(*duration)
	}
	select {
	case <-sig:
	case <-done:
	}
	closeAll(conns)
}

// open dials addr, sends PING and reads the +PONG reply.
func open(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(ping)); err != nil {
		c.Close()
		return nil, err
	}
	line, err := bufio.NewReaderSize(c, 64).ReadString('\n')
	if err != nil {
		c.Close()
		return nil, err
	}
	if line != "+PONG\r\n" {
		c.Close()
		return nil, errors.New("unexpected reply to PING: " + fmt.Sprintf("%q", line))
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}
