//go:build integration

package oracle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"hotswap/dual"
	"hotswap/internal/testutil"
	"hotswap/translate"
)

var binary string

// TestMain builds the real binary once: the tests drive `hotswap serve` processes,
// never the packages in-process.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hotswap-oracle")
	if err != nil {
		panic(err)
	}
	if binary, err = testutil.BuildHotswap(dir, "oracle"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mappingYAML: a hash family and a set family of the same entity, sharing one flag.
const mappingYAML = `table: %s
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
  - name: teams
    match: "user:{id}:teams"
    type: set
    pk: "user#{id}"
    sk: "teams"
    flag: hotswap.user.stage
`

const stageFlag = "hotswap.user.stage"

func hashKey(e int) string { return "user:" + strconv.Itoa(e) }
func setKey(e int) string  { return "user:" + strconv.Itoa(e) + ":teams" }

// env is one migration: a redis-server, a table in dynalite, the mapping and flag
// files, and the hotswap instances serving them.
type env struct {
	t        *testing.T
	dir      string
	redis    *testutil.Redis
	rdb      *redis.Client // Redis directly
	dynamoEP string
	table    string
	mapping  string
	flagFile string
	m        *translate.Mapping
	eng      *translate.Engine // reads DynamoDB directly (strong reads)
	start    time.Time         // the zero of every time the test records
	tl       *timeline
}

func mustEnv(t *testing.T, stage string) *env {
	t.Helper()
	ep := testutil.DynamoEndpoint(t, testutil.Dynalite)
	db := testutil.MustDynamoClient(t, ep)
	e := &env{t: t, dir: t.TempDir(), dynamoEP: ep, start: time.Now()}
	e.table = testutil.MustCreateTable(t, db)
	e.mapping = filepath.Join(e.dir, "mapping.yaml")
	if err := os.WriteFile(e.mapping, fmt.Appendf(nil, mappingYAML, e.table), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := translate.LoadMapping(e.mapping)
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	e.eng, err = translate.NewEngine(translate.Options{Mapping: m, DB: db, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.redis = testutil.MustStartRedis(t)
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redis.Addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { e.rdb.Close() })
	e.flagFile = filepath.Join(e.dir, "flags.json")
	e.tl = &timeline{start: e.start}
	e.setStage(stage)
	return e
}

func (e *env) since() time.Duration { return time.Since(e.start) }

// flagDoc is the flag file with every entity of the user flag at stage.
func flagDoc(stage string) []byte {
	variants := map[string]any{}
	for st := translate.StageOff; st <= translate.StageComplete; st++ {
		variants[st.String()] = st.String()
	}
	b, err := json.MarshalIndent(map[string]any{
		"$schema": "https://flagd.dev/schema/v0/flags.json",
		"flags": map[string]any{
			stageFlag: map[string]any{"state": "ENABLED", "variants": variants, "defaultVariant": stage},
		},
	}, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// revisionOf is how package flags names a revision (the first 8 bytes of the
// content's SHA-256): /status reports it, so the test sees when each instance loaded
// a revision.
func revisionOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// setStage moves every entity to stage: the flag file is replaced with an atomic
// rename, as a ConfigMap update or a deploy tool does.
func (e *env) setStage(stage string) {
	e.t.Helper()
	data := flagDoc(stage)
	tmp := e.flagFile + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.tl.add(stage, revisionOf(data))
	if err := os.Rename(tmp, e.flagFile); err != nil {
		e.t.Fatal(err)
	}
}

// timeline records the stage changes: when the file was written and when each
// instance reported the revision in /status (polled every 20ms, so ±20ms).
type timeline struct {
	start time.Time
	mu    sync.Mutex
	steps []*step
}

type step struct {
	stage   string
	rev     string
	written time.Duration
	loaded  map[int]time.Duration // instance → first seen loaded
	applied map[int]time.Duration // instance → first seen applied (fleet fence), if /status says
}

func (tl *timeline) add(stage, rev string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.steps = append(tl.steps, &step{stage: stage, rev: rev, written: time.Since(tl.start), loaded: map[int]time.Duration{}, applied: map[int]time.Duration{}})
}

func (tl *timeline) seen(inst int, loaded, applied string, at time.Duration) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, s := range tl.steps {
		if _, ok := s.loaded[inst]; !ok && s.rev == loaded {
			s.loaded[inst] = at
		}
		if _, ok := s.applied[inst]; !ok && s.rev == applied {
			s.applied[inst] = at
		}
	}
}

// effective is when instance inst served step s: when it reported the revision
// applied (a fenced fleet), else loaded, else when the file was written.
func (s *step) effective(inst int) (time.Duration, bool) {
	if at, ok := s.applied[inst]; ok {
		return at, true
	}
	if at, ok := s.loaded[inst]; ok {
		return at, true
	}
	return s.written, false
}

// waitApplied waits until every instance in insts reports the last step's revision
// applied (or, without a fleet section in /status, loaded) and says how long it took.
func (tl *timeline) waitApplied(insts []*instance, fenced bool, timeout time.Duration) (time.Duration, bool) {
	deadline := time.Now().Add(timeout)
	for {
		tl.mu.Lock()
		s := tl.steps[len(tl.steps)-1]
		n := 0
		var last time.Duration
		for _, in := range insts {
			m := s.loaded
			if fenced {
				m = s.applied
			}
			if at, ok := m[in.id]; ok {
				n++
				last = max(last, at)
			}
		}
		tl.mu.Unlock()
		if n == len(insts) {
			return last - s.written, true
		}
		if time.Now().After(deadline) {
			return 0, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stageAt is the stage instance inst served at t, as far as /status showed.
func (tl *timeline) stageAt(inst int, t time.Duration) string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	st := "?"
	for _, s := range tl.steps {
		if at, _ := s.effective(inst); at <= t {
			st = s.stage
		}
	}
	return st
}

// around describes the stage changes within d of t.
func (tl *timeline) around(t, d time.Duration) string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []string
	for i, s := range tl.steps {
		if s.written < t-d || s.written > t+d || i == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s→%s written at %s (%+dms from the op)%s", tl.steps[i-1].stage, s.stage, ms(s.written), (s.written-t).Milliseconds(), s.loadedString()))
	}
	if len(out) == 0 {
		return fmt.Sprintf("no stage change within %s", d)
	}
	return strings.Join(out, "; ")
}

// within names the stage changes written or applied between from and to ("none":
// the loss happened while the fleet stayed at one stage).
func (tl *timeline) within(from, to time.Duration) string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []string
	for i := 1; i < len(tl.steps); i++ {
		s := tl.steps[i]
		last := s.written
		for _, at := range s.applied {
			last = max(last, at)
		}
		for _, at := range s.loaded {
			last = max(last, at)
		}
		if s.written <= to && last >= from {
			out = append(out, tl.steps[i-1].stage+"→"+s.stage)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

func (s *step) loadedString() string {
	var insts []int
	for i := range s.loaded {
		insts = append(insts, i)
	}
	sort.Ints(insts)
	var parts []string
	for _, i := range insts {
		p := fmt.Sprintf("i%d +%dms", i, (s.loaded[i] - s.written).Milliseconds())
		if at, ok := s.applied[i]; ok {
			p += fmt.Sprintf(" (applied +%dms)", (at - s.written).Milliseconds())
		}
		parts = append(parts, p)
	}
	return " [loaded: " + strings.Join(parts, ", ") + "]"
}

func (tl *timeline) String() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var b strings.Builder
	for _, s := range tl.steps {
		fmt.Fprintf(&b, "  %-9s written %s%s\n", s.stage, ms(s.written), s.loadedString())
	}
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// instance is one `hotswap serve` process.
type instance struct {
	id          int
	listen      string
	admin       string
	cmd         *exec.Cmd
	logs        *syncBuffer
	done        chan struct{}
	killed      atomic.Bool
	fenced      atomic.Bool // /status has a fleet section
	pollStopped chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() < 4<<20 {
		s.b.Write(p)
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mustServe starts instance id against the env's Redis, with DynamoDB at dynamoEP
// (the env's, or a relay in front of it), and waits until /readyz answers 200.
func (e *env) mustServe(id int, dynamoEP string, extra ...string) *instance {
	e.t.Helper()
	in := &instance{
		id:     id,
		listen: "127.0.0.1:" + strconv.Itoa(testutil.FreePort(e.t)),
		admin:  "127.0.0.1:" + strconv.Itoa(testutil.FreePort(e.t)),
		logs:   &syncBuffer{},
		done:   make(chan struct{}),
	}
	args := append([]string{"serve",
		"--listen", in.listen, "--admin", in.admin,
		"--redis", "redis://" + e.redis.Addr,
		"--mapping", e.mapping, "--flags", e.flagFile,
		"--dynamodb-endpoint", dynamoEP,
		"--shadow-sample", "0.2",
		"--log-level", "warn",
	}, extra...)
	in.cmd = exec.Command(binary, args...)
	in.cmd.Stdout, in.cmd.Stderr = in.logs, in.logs
	in.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := in.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { _ = in.cmd.Wait(); close(in.done) }()
	e.t.Cleanup(func() {
		in.kill()
		if e.t.Failed() {
			logs := in.logs.String()
			if len(logs) > 8000 {
				logs = "...\n" + logs[len(logs)-8000:]
			}
			e.t.Logf("instance %d output (tail):\n%s", in.id, logs)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _ := httpGet("http://" + in.admin + "/readyz")
		if code == 200 {
			break
		}
		select {
		case <-in.done:
			e.t.Fatalf("instance %d exited at start:\n%s", id, in.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("instance %d not ready after 20s:\n%s", id, in.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	in.pollStopped = make(chan struct{})
	go e.pollRevision(in)
	return in
}

// kill sends SIGKILL and waits for the process to be gone.
func (in *instance) kill() {
	if in.killed.CompareAndSwap(false, true) {
		_ = in.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-in.done
}

// pollRevision records when the instance reports each flag revision.
func (e *env) pollRevision(in *instance) {
	defer close(in.pollStopped)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-in.done:
			return
		case <-time.After(20 * time.Millisecond):
		}
		resp, err := client.Get("http://" + in.admin + "/status")
		if err != nil {
			continue
		}
		// fleet is there once authority changes are fenced: the revision the
		// fleet has applied, which decides authority.
		var st struct {
			Flags struct{ Revision string } `json:"flags"`
			Fleet *struct {
				Loaded  string `json:"loaded"`
				Applied string `json:"applied"`
			} `json:"fleet"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			continue
		}
		loaded, applied := st.Flags.Revision, ""
		if st.Fleet != nil {
			in.fenced.Store(true)
			applied = st.Fleet.Applied
			if st.Fleet.Loaded != "" {
				loaded = st.Fleet.Loaded
			}
		}
		e.tl.seen(in.id, loaded, applied, e.since())
	}
}

func httpGet(url string) (int, string) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// client is a connection through hotswap with no retries (a retried HINCRBY could
// apply twice) and RESP2 without CLIENT SETINFO.
func client(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1, PoolSize: 1,
		DialTimeout: 2 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 5 * time.Second,
	})
}

// keyState is one key's state as either store holds it.
type keyState struct {
	kind     string // none, hash, set (or another Redis type)
	fields   map[string]string
	members  map[string]bool
	expireAt int64 // Unix ms; 0 none
}

func (s keyState) String() string {
	var parts []string
	switch s.kind {
	case "none":
		return "(none)"
	case "hash":
		for f, v := range s.fields {
			parts = append(parts, f+"="+v)
		}
	case "set":
		for m := range s.members {
			parts = append(parts, m)
		}
	}
	sort.Strings(parts)
	out := s.kind + "{" + strings.Join(parts, " ") + "}"
	if s.expireAt > 0 {
		out += " expireat=" + strconv.FormatInt(s.expireAt, 10)
	}
	return out
}

// diff describes how b differs from a ("" when equal).
func diff(a, b keyState) string {
	var out []string
	if a.kind != b.kind {
		return fmt.Sprintf("type %s vs %s: %s vs %s", a.kind, b.kind, a, b)
	}
	if a.expireAt != b.expireAt {
		out = append(out, fmt.Sprintf("expireat %d vs %d", a.expireAt, b.expireAt))
	}
	var onlyA, onlyB, changed []string
	for f, v := range a.fields {
		if w, ok := b.fields[f]; !ok {
			onlyA = append(onlyA, f+"="+v)
		} else if w != v {
			changed = append(changed, f+": "+v+" vs "+w)
		}
	}
	for f, v := range b.fields {
		if _, ok := a.fields[f]; !ok {
			onlyB = append(onlyB, f+"="+v)
		}
	}
	for m := range a.members {
		if !b.members[m] {
			onlyA = append(onlyA, m)
		}
	}
	for m := range b.members {
		if !a.members[m] {
			onlyB = append(onlyB, m)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	sort.Strings(changed)
	if len(onlyA) > 0 {
		out = append(out, "only in redis: "+strings.Join(onlyA, " "))
	}
	if len(onlyB) > 0 {
		out = append(out, "only in dynamodb: "+strings.Join(onlyB, " "))
	}
	if len(changed) > 0 {
		out = append(out, "changed (redis vs dynamodb): "+strings.Join(changed, ", "))
	}
	return strings.Join(out, "; ")
}

func (e *env) readRedis(ctx context.Context, key string) (keyState, error) {
	var typ *redis.StatusCmd
	var exp *redis.DurationCmd
	var h *redis.MapStringStringCmd
	var sm *redis.StringSliceCmd
	_, err := e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		typ = p.Type(ctx, key)
		exp = p.PExpireTime(ctx, key)
		h = p.HGetAll(ctx, key)
		sm = p.SMembers(ctx, key)
		return nil
	})
	st := keyState{}
	if typ == nil || typ.Err() != nil {
		return st, fmt.Errorf("redis: read %s: %v", key, err)
	}
	st.kind = typ.Val()
	if d := exp.Val(); d > 0 {
		st.expireAt = d.Milliseconds()
	}
	switch st.kind {
	case "hash":
		st.fields = h.Val()
	case "set":
		st.members = map[string]bool{}
		for _, m := range sm.Val() {
			st.members[m] = true
		}
	}
	return st, nil
}

func (e *env) readDynamo(ctx context.Context, key string) (keyState, error) {
	r, ok, err := e.m.Route([]byte(key))
	if err != nil || !ok {
		return keyState{}, fmt.Errorf("route %s: %v %v", key, ok, err)
	}
	v, _, err := e.eng.ReadState(ctx, &r, []byte(key))
	if err != nil {
		return keyState{}, err
	}
	st := keyState{kind: "none"}
	if v == nil {
		return st, nil
	}
	st.kind = v.Kind.String()
	st.expireAt = v.ExpireAt
	switch v.Kind {
	case translate.KindHash:
		st.fields = map[string]string{}
		for f, x := range v.Hash {
			st.fields[f] = string(x)
		}
	case translate.KindSet:
		st.members = map[string]bool{}
		for m := range v.Set {
			st.members[m] = true
		}
	}
	return st, nil
}

// snapshot reads every key from both stores (writers stopped).
func (e *env) snapshot(keys []string) (rs, ds map[string]keyState) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs, ds = map[string]keyState{}, map[string]keyState{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	sem := make(chan struct{}, 16)
	for _, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := e.readRedis(ctx, k)
			if err != nil {
				errs <- err
				return
			}
			d, err := e.readDynamo(ctx, k)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			rs[k], ds[k] = r, d
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Fatalf("snapshot: %v", err)
	}
	return rs, ds
}

// compareStores returns one line per key whose states differ.
func compareStores(keys []string, rs, ds map[string]keyState) []string {
	var out []string
	for _, k := range keys {
		if d := diff(rs[k], ds[k]); d != "" {
			out = append(out, k+": "+d)
		}
	}
	return out
}

// journal returns the journal's entries (key → token).
func (e *env) journal() map[string]string {
	e.t.Helper()
	m, err := e.rdb.HGetAll(context.Background(), dual.DefaultJournalKey).Result()
	if err != nil {
		e.t.Fatalf("read journal: %v", err)
	}
	return m
}

// waitJournalEmpty waits until the repairers have drained the journal.
func (e *env) waitJournalEmpty(d time.Duration) map[string]string {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		j := e.journal()
		if len(j) == 0 || time.Now().After(deadline) {
			return j
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// relay is a TCP forwarder in front of DynamoDB for one instance: it can delay the
// responses (the requests land, the instance learns late) or cut every connection.
type relay struct {
	addr, target string
	ln           net.Listener
	delay        atomic.Int64 // ns added to every response chunk
	mu           sync.Mutex
	down         bool
	conns        []net.Conn
}

func mustRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: ln.Addr().String(), target: target, ln: ln}
	t.Cleanup(func() { ln.Close(); r.cut() })
	go r.serve()
	return r
}

func (r *relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.down {
			r.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			r.mu.Unlock()
			c.Close()
			continue
		}
		r.conns = append(r.conns, c, up)
		r.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go r.responses(up, c)
	}
}

type chunk struct {
	b  []byte
	at time.Time
}

// responses copies up → c, each chunk held until its arrival time + delay.
func (r *relay) responses(up, c net.Conn) {
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 32<<10)
			n, err := up.Read(buf)
			if n > 0 {
				ch <- chunk{buf[:n], time.Now()}
			}
			if err != nil {
				return
			}
		}
	}()
	defer c.Close()
	for ck := range ch {
		if d := time.Duration(r.delay.Load()); d > 0 {
			time.Sleep(time.Until(ck.at.Add(d)))
		}
		if _, err := c.Write(ck.b); err != nil {
			return
		}
	}
}

func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = true
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// syncStats is what /status says of an instance's copies.
type syncStats struct {
	Queued       uint64 `json:"queued"`
	Applied      uint64 `json:"applied"`
	Superseded   uint64 `json:"superseded"`
	Failed       uint64 `json:"failed"`
	Dropped      uint64 `json:"dropped"`
	Repaired     uint64 `json:"repaired"`
	JournalDepth int64  `json:"journal_depth"`
}

// sampler records, every second, the journal's length and each instance's copy
// backlog (queued and not yet applied, superseded or failed), to tell a transition
// race from a backlog that outlives a stage.
type sampler struct {
	mu    sync.Mutex
	lines []string
	stop  chan struct{}
	done  chan struct{}
}

func (e *env) startSampler(insts []*instance) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		c := &http.Client{Timeout: time.Second}
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(time.Second):
			}
			n, _ := e.rdb.HLen(context.Background(), dual.DefaultJournalKey).Result()
			line := fmt.Sprintf("  %7s journal %5d", ms(e.since()), n)
			for _, in := range insts {
				var st struct {
					Sync syncStats `json:"sync"`
				}
				resp, err := c.Get("http://" + in.admin + "/status")
				if err != nil {
					line += fmt.Sprintf(" | i%d down", in.id)
					continue
				}
				_ = json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
				y := st.Sync
				line += fmt.Sprintf(" | i%d %s backlog %5d dropped %6d repaired %5d", in.id, e.tl.stageAt(in.id, e.since()),
					int64(y.Queued)-int64(y.Applied+y.Superseded+y.Failed), y.Dropped, y.Repaired)
			}
			s.mu.Lock()
			s.lines = append(s.lines, line)
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *sampler) close() string {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}
