// Package clients_test runs real applications' Redis client libraries (redis-py, ioredis,
// Jedis, Lettuce) against hotswap in front of a real redis-server: each library's program
// (python/, node/, java/) connects through hotswap and runs an application's scenario,
// and must end with "ok LIB VERSION". See README.md.
package clients_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"hotswap/internal/testutil"
	"hotswap/proxy"
	"hotswap/proxy/upstream"
)

// programTimeout bounds one client program: the scenario takes a few seconds (a JVM's
// start included); a hang must fail the test, not stall it.
const programTimeout = 30 * time.Second

const installHint = "run test/clients/deps.sh (make test does), or set HOTSWAP_SKIP_CLIENT_LIBS=1 to skip these tests"

// client is one library's program.
type client struct {
	name string
	// prep checks that the runtime and the library are installed and returns the
	// program's command line for an address, or an error naming what is missing.
	prep func(t *testing.T) (argv func(addr string) []string, err error)
	// pin returns the version the library is pinned at.
	pin func() (string, error)
	// proto, if set, is the protocol the program asks for, and must end up on ("RESP2").
	proto string
}

func TestClientLibraries(t *testing.T) {
	clients := []client{
		// Each library with its defaults, as applications have it: redis-py 8 speaks RESP3
		// only (HELLO 3, no fallback), ioredis 6 and Lettuce try HELLO 3 and fall back to
		// RESP2 on NOPROTO, Jedis stays on RESP2 unless told otherwise. Then each with the
		// other protocol configured explicitly.
		{name: "redis-py", prep: pythonCmd(), pin: pythonPin},
		{name: "redis-py-resp2", prep: pythonCmd("--protocol", "2"), pin: pythonPin, proto: "RESP2"},
		{name: "ioredis", prep: nodeCmd(), pin: nodePin},
		{name: "ioredis-resp2", prep: nodeCmd("--protocol", "2"), pin: nodePin, proto: "RESP2"},
		{name: "jedis", prep: javaCmd("jedis", "JedisClient"), pin: javaPin("jedis.version")},
		{name: "jedis-resp3", prep: javaCmd("jedis-resp3", "JedisClient", "--protocol", "3"), pin: javaPin("jedis.version"), proto: "RESP3"},
		{name: "lettuce", prep: javaCmd("lettuce", "LettuceClient"), pin: javaPin("lettuce.version")},
		{name: "lettuce-resp2", prep: javaCmd("lettuce-resp2", "LettuceClient", "--protocol", "2"), pin: javaPin("lettuce.version"), proto: "RESP2"},
	}

	// What is installed is known before any server starts, so a machine without the
	// libraries fails (or skips) at once.
	argvs := make([]func(string) []string, len(clients))
	var missingErrs []error
	for i, c := range clients {
		argv, err := c.prep(t)
		if err != nil {
			missingErrs = append(missingErrs, fmt.Errorf("%s: %w", c.name, err))
		}
		argvs[i] = argv
	}
	if len(missingErrs) == len(clients) {
		missing(t, errors.Join(missingErrs...))
	}

	// One redis-server and one hotswap for all: every program namespaces its keys and
	// channels with its library and process id, so they run in parallel.
	backend := testutil.MustStartRedis(t)
	srv := proxy.New(proxy.Config{
		Upstream: upstream.Options{Addr: backend.Addr, ReadTimeout: 10 * time.Second},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := srv.Open(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	addr := srv.Addr().String()

	for i, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			if argvs[i] == nil {
				_, err := c.prep(t)
				missing(t, err)
			}
			t.Parallel()
			want, err := c.pin()
			if err != nil {
				t.Fatal(err)
			}
			argv := argvs[i](addr)
			out, err := run(t, argv)
			if err != nil {
				t.Fatalf("%s through hotswap (%s): %v\n$ %s\n%s%s", c.name, addr, err, strings.Join(argv, " "), out,
					direct(t, argvs[i](backend.Addr)))
			}
			last := lastLine(out)
			if !strings.HasPrefix(last, "ok ") {
				t.Fatalf("%s exited 0 without its final ok line:\n%s", c.name, out)
			}
			if f := strings.Fields(last); len(f) < 3 || !strings.HasPrefix(f[2], want) {
				t.Fatalf("%s is pinned at %s, and the installed one says %q: run test/clients/deps.sh", c.name, want, last)
			}
			if c.proto != "" && !strings.Contains(last, "("+c.proto+")") {
				t.Fatalf("%s asked for %s and got another protocol: %s", c.name, c.proto, last)
			}
			t.Log(last)
		})
	}
}

// direct runs a program that failed through hotswap against redis-server itself, and
// says how that went: a scenario that fails there too is the scenario's bug, not hotswap's.
func direct(t *testing.T, argv []string) string {
	out, err := run(t, argv)
	if err != nil {
		return fmt.Sprintf("\nagainst redis-server directly it fails too: %v\n%s", err, out)
	}
	return "\nagainst redis-server directly the same program passes: " + lastLine(out)
}

// missing fails (or skips, with HOTSWAP_SKIP_CLIENT_LIBS=1) a client whose runtime or
// installed libraries are not there.
func missing(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("HOTSWAP_SKIP_CLIENT_LIBS") == "1" {
		t.Skipf("%v (HOTSWAP_SKIP_CLIENT_LIBS=1)", err)
	}
	t.Fatalf("%v: %s", err, installHint)
}

func run(t *testing.T, argv []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), programTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s took %v", filepath.Base(argv[0]), time.Since(start).Round(10*time.Millisecond))
	if ctx.Err() != nil {
		err = fmt.Errorf("still running after %v (killed): %w", programTimeout, err)
	}
	return out.Bytes(), err
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func mustExist(path, what string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s not installed (%s missing)", what, path)
	}
	return nil
}

func abs(t *testing.T, rel string) string {
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// --- Python: redis-py in python/.venv ---

func pythonCmd(extra ...string) func(*testing.T) (func(string) []string, error) {
	return func(t *testing.T) (func(string) []string, error) {
		py := abs(t, "python/.venv/bin/python")
		if err := mustExist(py, "python/.venv (redis-py)"); err != nil {
			return nil, err
		}
		if err := mustExist(abs(t, "python/.venv/.hotswap-stamp"), "redis-py"); err != nil {
			return nil, err
		}
		script := abs(t, "python/client.py")
		return func(addr string) []string {
			return append([]string{py, script, addr}, extra...)
		}, nil
	}
}

func pythonPin() (string, error) {
	return pinned("python/requirements.txt", `(?m)^redis==(\S+)`)
}

// --- Node: ioredis in node/node_modules ---

func nodeCmd(extra ...string) func(*testing.T) (func(string) []string, error) {
	return func(t *testing.T) (func(string) []string, error) {
		node, err := exec.LookPath("node")
		if err != nil {
			return nil, errors.New("node (Node.js) is not on PATH")
		}
		if err := mustExist(abs(t, "node/node_modules/ioredis/package.json"), "ioredis"); err != nil {
			return nil, err
		}
		script := abs(t, "node/client.js")
		return func(addr string) []string {
			return append([]string{node, script, addr}, extra...)
		}, nil
	}
}

func nodePin() (string, error) {
	return pinned("node/package.json", `"ioredis":\s*"([^"]+)"`)
}

// --- Java: Jedis and Lettuce in java/target ---

// javaCmd runs class; name names its class-data archive (one per variant, so that
// parallel first runs never write the same file).
func javaCmd(name, class string, extra ...string) func(*testing.T) (func(string) []string, error) {
	return func(t *testing.T) (func(string) []string, error) {
		java := "java"
		if h := os.Getenv("JAVA_HOME"); h != "" {
			java = filepath.Join(h, "bin", "java")
		}
		java, err := exec.LookPath(java)
		if err != nil {
			return nil, errors.New("java is not installed")
		}
		jar := abs(t, "java/target/hotswap-clients.jar")
		if err := mustExist(jar, "Jedis and Lettuce (java/target)"); err != nil {
			return nil, err
		}
		jsa := abs(t, "java/target/"+name+".jsa")
		return func(addr string) []string {
			// Start fast: C1 only (the scenario is short), and a class-data archive of the
			// libraries' classes, written by the first run after a build (deps.sh cleans it).
			argv := []string{java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"}
			if _, err := os.Stat(jsa); err == nil {
				argv = append(argv, "-XX:SharedArchiveFile="+jsa)
			} else {
				argv = append(argv, "-XX:ArchiveClassesAtExit="+jsa)
			}
			argv = append(argv, "-Xlog:cds=off", "-Xlog:cds+dynamic=off", "-cp", jar, "hotswap.clients."+class, addr)
			return append(argv, extra...)
		}, nil
	}
}

func javaPin(property string) func() (string, error) {
	return func() (string, error) {
		return pinned("java/pom.xml", `<`+regexp.QuoteMeta(property)+`>([^<]+)</`)
	}
}

func pinned(file, pattern string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(pattern).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s: no pinned version (%s)", file, pattern)
	}
	return string(m[1]), nil
}
