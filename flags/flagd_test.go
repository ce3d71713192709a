package flags

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"buf.build/gen/go/open-feature/flagd/grpc/go/flagd/sync/v1/syncv1grpc"
	syncv1 "buf.build/gen/go/open-feature/flagd/protocolbuffers/go/flagd/sync/v1"
	"google.golang.org/grpc"

	"hotswap/translate"
)

// TestOpenFlagd_NoDaemon: with nothing listening, OpenFlagd returns once ctx
// ends, not ready, with every family at its floor, and closes promptly.
func TestOpenFlagd_NoDaemon(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a port with nothing behind it

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s, err := OpenFlagd(ctx, addr, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready() = %v, want ErrNotReady", err)
	} else {
		t.Logf("Ready() = %v", err)
	}
	if s.Revision() != "" {
		t.Fatalf("revision %q", s.Revision())
	}
	f := &translate.Family{Name: "user", Flag: userFamily.Flag, Floor: translate.StageShadow}
	if st := s.Stage(context.Background(), f, entity(1)); st != translate.StageShadow {
		t.Fatalf("%s, want the floor", st)
	}
	if got := s.Stats().Fallbacks.NotReady; got != 1 {
		t.Fatalf("%d not-ready fallbacks", got)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if _, err := OpenFlagd(context.Background(), "", nil); err == nil {
		t.Fatal("empty address: no error")
	}
}

// fakeFlagd serves flagd's sync protocol (flagd.sync.v1) from memory: enough of
// a flagd daemon to test OpenFlagd without one.
type fakeFlagd struct {
	syncv1grpc.UnimplementedFlagSyncServiceServer
	mu      sync.Mutex
	config  string
	changed chan struct{}
}

func (f *fakeFlagd) set(config string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.config = config
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeFlagd) get() (string, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.config, f.changed
}

func (f *fakeFlagd) SyncFlags(_ *syncv1.SyncFlagsRequest, stream grpc.ServerStreamingServer[syncv1.SyncFlagsResponse]) error {
	for {
		config, changed := f.get()
		if err := stream.Send(&syncv1.SyncFlagsResponse{FlagConfiguration: config}); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (f *fakeFlagd) FetchAllFlags(context.Context, *syncv1.FetchAllFlagsRequest) (*syncv1.FetchAllFlagsResponse, error) {
	config, _ := f.get()
	return &syncv1.FetchAllFlagsResponse{FlagConfiguration: config}, nil
}

func TestOpenFlagd_FakeDaemon(t *testing.T) {
	first := string(flagDoc(t, map[string]any{userFamily.Flag: rampFlag(userSeed, rampSteps[0])}))
	fake := &fakeFlagd{config: first, changed: make(chan struct{})}
	srv := grpc.NewServer()
	syncv1grpc.RegisterFlagSyncServiceServer(srv, fake)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenFlagd(ctx, l.Addr().String(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := s.Ready(); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Revision(), revisionOf([]byte(first)); got != want {
		t.Fatalf("revision %q, want %q", got, want)
	}
	const n = 2_000
	before := stages(s, userFamily, n)

	// The same file in file mode gives the same stages.
	ref := t.TempDir() + "/flags.json"
	MustWriteAtomic(t, ref, []byte(first))
	if !equalStages(before, stages(MustOpenFile(t, ref), userFamily, n)) {
		t.Fatal("flagd and file mode disagree")
	}

	next := string(flagDoc(t, map[string]any{userFamily.Flag: rampFlag(userSeed, rampSteps[1])}))
	fake.set(next)
	if _, took := MustWaitRevision(t, s, revisionOf([]byte(first))); took > time.Second {
		t.Fatalf("change in force after %v", took)
	}
	after := stages(s, userFamily, n)
	for i := range after {
		if after[i] < before[i] {
			t.Fatalf("entity %s moved back", entity(i))
		}
	}
	if d := count(after, translate.StageDualWrite); d < n*46/100 || d > n*54/100 {
		t.Fatalf("%d of %d in dualwrite after the change", d, n)
	}

	// A bad configuration from flagd is refused like a bad file.
	rev := s.Revision()
	fake.set("{")
	waitFor(t, func() bool { return s.Stats().Rejected == 1 })
	if s.Revision() != rev || !equalStages(after, stages(s, userFamily, n)) {
		t.Fatal("a refused configuration changed something")
	}
}

// TestOpenFlagd_LateDaemon: flagd starts after hotswap, and later restarts with
// another configuration; the configuration in force stays while it is away.
func TestOpenFlagd_LateDaemon(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s, err := OpenFlagd(ctx, addr, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if s.Ready() == nil {
		t.Fatal("ready with no daemon")
	}

	serve := func(config string) *grpc.Server {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("port %s taken meanwhile: %v", addr, err)
		}
		srv := grpc.NewServer()
		syncv1grpc.RegisterFlagSyncServiceServer(srv, &fakeFlagd{config: config, changed: make(chan struct{})})
		go func() { _ = srv.Serve(l) }()
		return srv
	}
	live := string(flagDoc(t, map[string]any{userFamily.Flag: staticFlag(allVariants(), "live")}))
	srv := serve(live)
	took := waitFor(t, func() bool { return s.Ready() == nil })
	t.Logf("ready %v after flagd started", took)
	if st := s.Stage(context.Background(), userFamily, entity(1)); st != translate.StageLive {
		t.Fatalf("%s, want live", st)
	}

	srv.Stop()
	time.Sleep(100 * time.Millisecond)
	if st := s.Stage(context.Background(), userFamily, entity(2)); st != translate.StageLive {
		t.Fatalf("flagd away: %s, want live", st)
	}
	rev := s.Revision()
	srv = serve(string(flagDoc(t, map[string]any{userFamily.Flag: staticFlag(allVariants(), "rampdown")})))
	defer srv.Stop()
	_, took = MustWaitRevision(t, s, rev)
	t.Logf("new configuration in force %v after flagd restarted", took)
	if st := s.Stage(context.Background(), userFamily, entity(1)); st != translate.StageRampDown {
		t.Fatalf("%s, want rampdown", st)
	}
}
