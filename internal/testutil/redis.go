// Package testutil starts the real servers tests run against (redis-server today;
// dynalite and moto later) on free loopback ports, and stops them when the test ends.
//
// Every server a test starts is its own process with its own port, so tests can run in
// parallel and can stop or restart a server without disturbing other tests.
package testutil

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server process started for one test.
type Redis struct {
	Addr string // host:port on loopback
	Port int
	Dir  string // working directory (dump files, logs)

	tb     testing.TB
	bin    string
	args   []string
	cmd    *exec.Cmd
	exited chan error
}

// RedisBinary returns the redis-server binary to use: $HOTSWAP_REDIS_SERVER or
// redis-server from PATH.
func RedisBinary() (string, error) {
	if p := os.Getenv("HOTSWAP_REDIS_SERVER"); p != "" {
		return p, nil
	}
	for _, p := range []string{"redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("redis-server not found: run scripts/deps.sh (make test does) or set HOTSWAP_REDIS_SERVER")
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// MustStartRedis starts a redis-server on a free loopback port with persistence off.
// Extra arguments are passed as redis-server command-line options ("--requirepass", "x").
// The server is stopped when the test ends.
func MustStartRedis(tb testing.TB, extra ...string) *Redis {
	tb.Helper()
	bin, err := RedisBinary()
	if err != nil {
		tb.Fatal(err)
	}
	r := &Redis{tb: tb, bin: bin, Dir: tb.TempDir()}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		r.Port = FreePort(tb)
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port))
		r.args = append([]string{
			"--port", strconv.Itoa(r.Port),
			"--bind", "127.0.0.1",
			"--save", "",
			"--appendonly", "no",
			"--dir", r.Dir,
			"--logfile", filepath.Join(r.Dir, "redis.log"),
			"--daemonize", "no",
		}, extra...)
		if lastErr = r.start(); lastErr == nil {
			tb.Cleanup(r.Stop)
			return r
		}
	}
	tb.Fatalf("start redis-server: %v", lastErr)
	return nil
}

func (r *Redis) start() error {
	bin := r.bin
	cmd := exec.Command(bin, r.args...)
	cmd.Dir = r.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server exited: %v (log: %s)", err, r.logTail())
		default:
		}
		if err := ping(r.Addr); err == nil {
			r.cmd = cmd
			r.exited = exited
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("redis-server on %s did not answer PING within 10s (log: %s)", r.Addr, r.logTail())
}

func (r *Redis) logTail() string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "redis.log"))
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("unexpected PING reply %q", line)
	}
	return nil
}

// Stop kills the server and waits for it to exit. It is safe to call twice.
func (r *Redis) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot die of SIGTERM
	_ = r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

// Restart stops the server and starts it again on the same port and directory.
func (r *Redis) Restart() {
	r.tb.Helper()
	r.Stop()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = r.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the port may linger for a moment
	}
	r.tb.Fatalf("restart redis-server: %v", err)
}

// Pause stops the process with SIGSTOP: connections stay open, nothing answers.
func (r *Redis) Pause() { _ = r.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (r *Redis) Resume() { _ = r.cmd.Process.Signal(syscall.SIGCONT) }
