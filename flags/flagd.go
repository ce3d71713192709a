package flags

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"buf.build/gen/go/open-feature/flagd/grpc/go/flagd/sync/v1/syncv1grpc"
	syncv1 "buf.build/gen/go/open-feature/flagd/protocolbuffers/go/flagd/sync/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// DefaultFlagdSyncPort is flagd's sync service port (flagd.sync.v1), which
// OpenFlagd connects to.
const DefaultFlagdSyncPort = "8015"

// DefaultFlagdWait bounds how long OpenFlagd waits for the first configuration.
const DefaultFlagdWait = 5 * time.Second

// Reconnection backoff after the sync stream fails (flagd's defaults).
const (
	flagdRetryMin = time.Second
	flagdRetryMax = 12 * time.Second
)

// OpenFlagd returns a Source fed by a flagd daemon's sync service at hostPort
// (flagd.sync.v1.FlagSyncService, plaintext gRPC, port 8015 by default; a host
// without a port gets that one). Flags are evaluated in process, as with
// OpenFile: flagd streams its whole configuration on every change, and the
// revision is a hash of it, the same in every instance that received the same
// configuration. A lost stream is re-established with backoff (1s to 12s); the
// configuration in force stays meanwhile.
//
// OpenFlagd waits for the first configuration until ctx ends or for
// DefaultFlagdWait, whichever is sooner; without one by then it still returns the
// Source, not ready (families at their floors; Ready says why, WaitReady waits),
// and keeps connecting. It fails only when hostPort is unusable.
func OpenFlagd(ctx context.Context, hostPort string, log *slog.Logger, opts ...Option) (*OpenFeature, error) {
	if hostPort == "" {
		return nil, errors.New("flags: open flagd: empty address")
	}
	if _, _, err := net.SplitHostPort(hostPort); err != nil {
		hostPort = net.JoinHostPort(hostPort, DefaultFlagdSyncPort)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := grpc.NewClient(hostPort,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
	)
	if err != nil {
		return nil, fmt.Errorf("flags: open flagd %s: %w", hostPort, err)
	}
	s, err := newOpenFeature(log, "flagd "+hostPort, "flagd://"+hostPort, o)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	f := &flagdFeed{s: s, client: syncv1grpc.NewFlagSyncServiceClient(conn)}
	s.wg.Go(func() {
		defer conn.Close()
		f.run(s.ctx)
	})
	wait, cancel := context.WithTimeout(ctx, DefaultFlagdWait)
	defer cancel()
	_ = s.WaitReady(wait) // not ready yet is not an error: Ready says why
	return s, nil
}

// flagdFeed receives configurations from flagd's sync stream. (The flagd
// provider's own gRPC sync, in_process.Sync of v0.6.0, closes its event channel
// in Shutdown while its connection monitor may still send on it: a data race
// and a possible panic at Close.)
type flagdFeed struct {
	s       *OpenFeature
	client  syncv1grpc.FlagSyncServiceClient
	lastErr string // stream error last logged
}

func (f *flagdFeed) run(ctx context.Context) {
	wait := flagdRetryMin
	for {
		received, err := f.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if received {
			wait = flagdRetryMin
		}
		err = fmt.Errorf("flagd sync stream: %w", err)
		if !f.s.ready.Load() {
			f.s.setLoadErr(err)
		}
		if msg := err.Error(); msg != f.lastErr {
			f.lastErr = msg
			f.s.log.Warn("flags: lost flagd: the configuration in force stays; reconnecting",
				logKeySource, f.s.source, logKeyRevision, f.s.Revision(), logKeyError, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, flagdRetryMax)
	}
}

// stream follows one sync stream until it fails; received tells whether it
// brought any configuration.
func (f *flagdFeed) stream(ctx context.Context) (received bool, err error) {
	st, err := f.client.SyncFlags(ctx, &syncv1.SyncFlagsRequest{})
	if err != nil {
		return false, err
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			return received, err
		}
		if !received && f.lastErr != "" {
			f.s.log.Info("flags: flagd sync stream re-established", logKeySource, f.s.source)
			f.lastErr = ""
		}
		received = true
		// Refusals and start failures are logged and counted by offer; the next
		// configuration flagd sends is tried afresh.
		_ = f.s.offer(ctx, []byte(resp.GetFlagConfiguration()))
	}
}
