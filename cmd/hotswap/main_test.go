package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hotswap/internal/testutil"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hotswap-cli")
	if err != nil {
		panic(err)
	}
	if binary, err = testutil.BuildHotswap(dir, "test-1"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

// syncBuffer collects a child's output; the test reads it while the child writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mustServe runs `hotswap serve` with env (HOTSWAP_* variables) and args until ready.
func mustServe(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: logs, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("hotswap output:\n%s", logs.String())
		}
	})
	return p
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not listen", addr)
}

func do(t *testing.T, c net.Conn, r *bufio.Reader, args ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if line[0] == '$' && line != "$-1\r\n" {
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	return strings.TrimSpace(line)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func addr(t *testing.T) string {
	return "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
}

// Flags come from HOTSWAP_<FLAG> variables; the admin endpoints report health,
// readiness with its reason, and status.
func TestServe_EnvAndAdmin(t *testing.T) {
	backend := testutil.MustStartRedis(t)
	listen, admin := addr(t), addr(t)
	mustServe(t, []string{
		"HOTSWAP_LISTEN=" + listen,
		"HOTSWAP_REDIS=redis://" + backend.Addr + "/2",
		"HOTSWAP_ADMIN=" + admin,
		"HOTSWAP_READ_TIMEOUT=3s",
	})
	waitTCP(t, listen)
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got := do(t, c, r, "SET", "k", "v"); got != "+OK" {
		t.Fatalf("SET = %q", got)
	}
	// The URL's db 2 is where a new client starts.
	direct, _ := net.Dial("tcp", backend.Addr)
	defer direct.Close()
	dr := bufio.NewReader(direct)
	do(t, direct, dr, "SELECT", "2")
	if got := do(t, direct, dr, "GET", "k"); got != "v" {
		t.Fatalf("key not in db 2: %q", got)
	}

	waitTCP(t, admin)
	if code, body := get(t, "http://"+admin+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, "http://"+admin+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	code, body := get(t, "http://"+admin+"/status")
	var st struct {
		Version string
		Proxy   struct {
			Clients  int
			Upstream struct{ Open int }
		}
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("/status = %d %q (%v)", code, body, err)
	}
	if st.Version != "test-1" || st.Proxy.Clients != 1 || st.Proxy.Upstream.Open < 1 {
		t.Fatalf("/status = %+v", st)
	}
	backend.Stop()
	code, body = get(t, "http://"+admin+"/readyz")
	if code != 503 || !strings.Contains(body, "unavailable") {
		t.Fatalf("/readyz with Redis down = %d %q", code, body)
	}
}

// SIGTERM: the command in flight finishes, then hotswap exits 0 and stops listening.
func TestServe_SIGTERMDrains(t *testing.T) {
	backend := testutil.MustStartRedis(t)
	listen := addr(t)
	p := mustServe(t, nil, "--listen", listen, "--redis", "redis://"+backend.Addr, "--admin", "")
	waitTCP(t, listen)
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	do(t, c, r, "PING")
	slow := "local t = redis.call('TIME') while true do local n = redis.call('TIME') if (n[1]-t[1])*1000000 + (n[2]-t[2]) > 400000 then break end end return 'done'"
	reply := make(chan string, 1)
	go func() { reply <- do(t, c, r, "EVAL", slow, "0") }()
	time.Sleep(100 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := <-reply; got != "done" {
		t.Fatalf("in-flight EVAL = %q", got)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
		p.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("hotswap did not exit after SIGTERM")
	}
	if _, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		t.Fatal("still accepting after exit")
	}
}

// Bad configuration fails at start with a clear message and exit code.
func TestServe_BadConfig(t *testing.T) {
	dir := t.TempDir()
	mapping := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(mapping, []byte("table: registry\nfamilies:\n  - name: user\n    match: \"user:{id}\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"serve", "--redis", "http://x"}, 2, "scheme must be redis:// or rediss://"},
		{[]string{"serve", "--nosuchflag"}, 2, "unknown flag"},
		{[]string{"serve", "--admin", "", "--mapping", mapping}, 1, "m.yaml:3"}, // the family lacks type, pk and sk
		{[]string{"serve", "--log-level", "loud"}, 2, "--log-level"},
	} {
		out, err := exec.Command(binary, tc.args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tc.code || !strings.Contains(string(out), tc.msg) {
			t.Errorf("%v: exit %d, output %q; want exit %d mentioning %q", tc.args, code, out, tc.code, tc.msg)
		}
	}
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hotswap test-1" {
		t.Fatalf("version: %q %v", out, err)
	}
}
