package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotswap/internal/testutil"
	"hotswap/translate/storetest"
)

// `hotswap serve` with a mapping: family keys live in DynamoDB (dynalite), other keys
// in Redis; DAX pointed at a closed port falls back to DynamoDB, says so in the log,
// and counts it in /status.
func TestServe_FamiliesAndDAXFallback(t *testing.T) {
	endpoint := storetest.MustDynalite(t)
	raw := storetest.MustClient(t, endpoint)
	table := storetest.TableName(t)
	storetest.DeleteTableAtCleanup(t, raw, table)
	mapping := filepath.Join(t.TempDir(), "mapping.yaml")
	if err := os.WriteFile(mapping, []byte(fmt.Sprintf(`table: %s
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
    floor: complete
  - name: email
    match: "email:{email}"
    type: string
    pk: "email#{email}"
    sk: "id"
    floor: complete
    read: eventual
`, table)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runHotswap(t, nil, "table", "create", "--mapping", mapping, "--dynamodb-endpoint", endpoint); code != 0 {
		t.Fatalf("table create: exit %d: %s", code, out)
	}
	// A port that was listening and is now closed: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dax := ln.Addr().String()
	ln.Close()

	backend := testutil.MustStartRedis(t)
	listen, admin := addr(t), addr(t)
	p := mustServe(t, nil, "--listen", listen, "--admin", admin, "--redis", "redis://"+backend.Addr,
		"--mapping", mapping, "--dynamodb-endpoint", endpoint, "--dax-endpoint", "dax://"+dax)
	waitTCP(t, listen)
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for _, step := range [][]string{
		{"2", "HSET", "user:1", "name", "Ann", "age", "40"},
		{"Ann", "HGET", "user:1", "name"},
		{"OK", "SET", "email:ann@example.com", "1"},
		{"1", "GET", "email:ann@example.com"}, // eventual: through DAX, which is down
		{"OK", "SET", "other", "in-redis"},
	} {
		got := do(t, c, r, step[1:]...)
		got = strings.TrimLeft(got, ":+")
		if got != step[0] {
			t.Fatalf("%q: got %q, want %q", step[1:], got, step[0])
		}
	}
	// Family keys are not in Redis; the other key is.
	bc, err := net.Dial("tcp", backend.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	br := bufio.NewReader(bc)
	if got := do(t, bc, br, "DBSIZE"); got != ":1" {
		t.Errorf("Redis DBSIZE = %s, want 1 (only the key outside the families)", got)
	}
	code, body := get(t, "http://"+admin+"/status")
	if code != 200 {
		t.Fatalf("/status: %d %s", code, body)
	}
	var st struct {
		Families []struct{ Name, Stage string }
		DynamoDB struct {
			Commands uint64
			Calls    struct {
				GetItem uint64 `json:"get_item"`
			}
		} `json:"dynamodb"`
		Client map[string]any `json:"dynamodb_client"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Families) != 2 || st.DynamoDB.Commands != 4 {
		t.Errorf("/status: %s", body)
	}
	if fb, _ := st.Client["dax_fallbacks"].(float64); fb < 1 {
		t.Errorf("/status: DAX fallbacks not counted: %s", body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.logs.String(), "DAX") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(p.logs.String(), "level=WARN") || !strings.Contains(p.logs.String(), "DAX") {
		t.Errorf("no WARN log line about DAX falling back:\n%s", p.logs.String())
	}
}

// With --flags, commands on family keys wait for the flags: before the file loads they
// get an error (a stage read from nothing could put an entity on the wrong store), and
// /readyz says why; once it appears, they run at the stage it gives.
func TestServe_FlagsGateFamilies(t *testing.T) {
	endpoint := storetest.MustDynalite(t)
	raw := storetest.MustClient(t, endpoint)
	table := storetest.TableName(t)
	storetest.DeleteTableAtCleanup(t, raw, table)
	dir := t.TempDir()
	mapping := filepath.Join(dir, "mapping.yaml")
	if err := os.WriteFile(mapping, []byte(fmt.Sprintf("table: %s\nfamilies:\n  - name: user\n    match: \"user:{id}\"\n    type: hash\n    pk: \"user#{id}\"\n    sk: \"p\"\n", table)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runHotswap(t, nil, "table", "create", "--mapping", mapping, "--dynamodb-endpoint", endpoint); code != 0 {
		t.Fatalf("table create: %s", out)
	}
	flagFile := filepath.Join(dir, "flags.json")
	backend := testutil.MustStartRedis(t)
	listen, admin := addr(t), addr(t)
	mustServe(t, nil, "--listen", listen, "--admin", admin, "--redis", "redis://"+backend.Addr,
		"--mapping", mapping, "--dynamodb-endpoint", endpoint, "--flags", flagFile)
	waitTCP(t, listen)
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got := do(t, c, r, "HSET", "user:1", "a", "1"); !strings.Contains(got, "stage flags have not loaded") {
		t.Fatalf("HSET before the flags loaded: %q", got)
	}
	if got := do(t, c, r, "SET", "other", "1"); got != "+OK" {
		t.Fatalf("a key of no family: %q", got)
	}
	if code, body := get(t, "http://"+admin+"/readyz"); code != 503 || !strings.Contains(body, "flags") {
		t.Errorf("/readyz before the flags: %d %q", code, body)
	}
	flagJSON := `{"flags": {"hotswap.user.stage": {"state": "ENABLED", "variants": {"off": "off", "complete": "complete"}, "defaultVariant": "complete"}}}`
	if err := os.WriteFile(flagFile, []byte(flagJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := do(t, c, r, "HSET", "user:1", "a", "1")
		if got == ":1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HSET after the flags loaded: %q", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// complete: the key is in DynamoDB, not in Redis.
	bc, err := net.Dial("tcp", backend.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	if got := do(t, bc, bufio.NewReader(bc), "EXISTS", "user:1"); got != ":0" {
		t.Errorf("user:1 in Redis at stage complete: %s", got)
	}
}
