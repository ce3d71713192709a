package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hotswap/admin"
	"hotswap/dual"
	"hotswap/flags"
	"hotswap/fleet"
	"hotswap/observe"
	"hotswap/proxy"
	"hotswap/proxy/upstream"
	"hotswap/translate"
	"hotswap/translate/dynamo"
)

// serveConfig is everything `hotswap serve` reads from its flags.
type serveConfig struct {
	Listen           string
	Redis            string
	Admin            string
	Mapping          string
	Flags            string
	Flagd            string
	DynamoDBEndpoint string
	DAXEndpoint      string
	Region           string
	DynamoTimeout    time.Duration
	FleetID          string
	FleetInterval    time.Duration
	FleetDrain       time.Duration
	ShadowSample     float64
	LogValues        bool
	SharedConns      int
	MaxConns         int
	MaxIdle          int
	DialTimeout      time.Duration
	ReadTimeout      time.Duration
	ShutdownTimeout  time.Duration
	LogLevel         string
	LogFormat        string
	Pprof            bool
	Procs            int
	GCPercent        int
	Metrics          bool
	TraceSample      float64
	obs              *observe.Observer // telemetry (observe.go), set by runServe
}

func newServe() *cobra.Command {
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the sidecar: a Redis-protocol server in front of Redis (and DynamoDB)",
		Long: `serve listens for Redis clients and runs their commands. Keys that match no
configured key family go to Redis unchanged, so an application cannot tell hotswap
from Redis.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:6380", "address for Redis clients")
	f.StringVar(&cfg.Redis, "redis", "redis://127.0.0.1:6379", "upstream Redis URL: redis[s]://[user:password@]host:port[/db]")
	f.StringVar(&cfg.Admin, "admin", "127.0.0.1:9090", "admin HTTP address (/healthz, /readyz, /status); empty disables")
	f.StringVar(&cfg.Mapping, "mapping", "", "key mapping file (YAML): which keys move to DynamoDB")
	f.StringVar(&cfg.Flags, "flags", "", "flag file (flagd JSON) with each family's stage flag; watched and reloaded without restart")
	f.StringVar(&cfg.Flagd, "flagd", "", "a flagd service (HOST:PORT) serving the stage flags, instead of --flags")
	f.StringVar(&cfg.DynamoDBEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL (default: the AWS SDK's resolution, AWS_ENDPOINT_URL_DYNAMODB included)")
	f.StringVar(&cfg.DAXEndpoint, "dax-endpoint", "", "DAX cluster endpoint (dax://host:port or daxs://...) for the reads of families that read `eventual`; falls back to DynamoDB when DAX is down")
	f.StringVar(&cfg.Region, "region", "", "AWS region (default: the AWS SDK's resolution, AWS_REGION included)")
	f.Float64Var(&cfg.ShadowSample, "shadow-sample", 1, "fraction of reads compared with the other store in the shadow and live stages (0..1)")
	f.BoolVar(&cfg.LogValues, "log-values", false, "log the values of differing shadow reads (redacted by default; keys are always hashed)")
	f.DurationVar(&cfg.DynamoTimeout, "dynamodb-timeout", translate.DefaultTimeout, "bound on the DynamoDB calls of one command; past it the command gets an error")
	f.StringVar(&cfg.FleetID, "fleet-id", "", "this instance's id in the fleet registry (default: host name and a random suffix)")
	f.DurationVar(&cfg.FleetInterval, "fleet-interval", fleet.DefaultInterval, "fleet registry heartbeat period; an instance silent for 5 periods is gone")
	f.DurationVar(&cfg.FleetDrain, "fleet-drain", 250*time.Millisecond, "during an authority change, the wait after pausing an entity for commands between their stage check and their in-flight mark (no I/O between the two: a margin for scheduling)")
	f.IntVar(&cfg.Procs, "procs", 1, "OS threads running Go code at once (GOMAXPROCS); 0 keeps Go's default (the CPU limit). One is fastest until a core is saturated: see docs/BENCHMARKS.md")
	f.IntVar(&cfg.GCPercent, "gc-percent", 400, "Go GC target (GOGC): heap growth between collections, in percent; the GOGC variable, if set, wins. Higher trades memory for CPU: see docs/BENCHMARKS.md")
	f.IntVar(&cfg.SharedConns, "shared-conns", 1, "shared upstream connections per identity (user, db); plain commands of all clients are pipelined over them")
	f.IntVar(&cfg.MaxConns, "max-conns", 1000, "cap on upstream connections (shared + dedicated for MULTI, blocking commands, pub/sub)")
	f.IntVar(&cfg.MaxIdle, "max-idle", 16, "idle dedicated upstream connections kept per identity")
	f.DurationVar(&cfg.DialTimeout, "dial-timeout", 2*time.Second, "upstream connect + handshake timeout")
	f.DurationVar(&cfg.ReadTimeout, "read-timeout", 10*time.Second, "longest wait for Redis to reply to a non-blocking command before the connection is declared dead")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGTERM, how long to let in-flight commands finish")
	f.BoolVar(&cfg.Pprof, "pprof", false, "serve Go's pprof profiles under /debug/pprof/ on the admin listener")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&cfg.LogFormat, "log-format", "text", "text or json")
	addObserveFlags(f, &cfg)
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: %w", level, err)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want text or json", format)}
}

func runServe(ctx context.Context, cfg serveConfig) error {
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	if cfg.Procs > 0 {
		runtime.GOMAXPROCS(cfg.Procs)
	}
	if _, set := os.LookupEnv("GOGC"); !set && cfg.GCPercent != 0 {
		// The request path allocates a little per batch (redcon copies each
		// batch of commands); with a live heap of a few MiB the default GOGC=100 collects
		// so often that it shows in the tail latency on one thread.
		debug.SetGCPercent(cfg.GCPercent)
	}
	up, err := upstream.ParseURL(cfg.Redis)
	if err != nil {
		return usageError{err}
	}
	up.SharedConns, up.MaxConns, up.MaxIdle = cfg.SharedConns, cfg.MaxConns, cfg.MaxIdle
	up.DialTimeout, up.ReadTimeout = cfg.DialTimeout, cfg.ReadTimeout
	// hotswap's own Redis traffic (the sync journal) has its own connections.
	journalPool := upstream.NewPool(up)
	defer journalPool.Close()
	if cfg.obs, err = openObserve(ctx, cfg, log); err != nil {
		return err
	}
	defer closeObserve(cfg.obs, log)
	mg, err := openMigration(ctx, cfg, journalPool, log)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := mg.Close(cctx); err != nil {
			log.Warn("closing the DynamoDB side", "err", err)
		}
	}()

	var srv *proxy.Server
	var adm *admin.Server
	if err := registerObserve(ctx, cfg.obs, mg, &srv, &adm); err != nil {
		return err
	}
	srv = proxy.New(proxy.Config{
		Upstream:        up,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          log,
		Version:         version,
		Engine:          mg.engine,
		Syncer:          mg.syncer,
		Shadow:          mg.shadow,
		Stages:          mg.stageSource(),
		Observer:        cfg.obs.Proxy(),
	})
	if err := srv.Open(ctx, cfg.Listen); err != nil {
		return err
	}
	if mg.syncer != nil {
		mg.syncer.Open(ctx)
	}
	if cfg.Admin != "" {
		adm = admin.New(withObserve(admin.Checks{
			Ready: func(ctx context.Context) error {
				if srv.Stats().Draining {
					return errors.New("shutting down")
				}
				// flags and DynamoDB: probes (withObserve)
				if err := srv.Pool().Ping(ctx); err != nil {
					return fmt.Errorf("redis: %w", err)
				}
				return nil
			},
			Status:     func() any { return statusOf(srv, mg) },
			Pprof:      cfg.Pprof,
			KillSwitch: mg.killSwitch(log),
		}, cfg.obs, mg), log)
		if err := adm.Open(cfg.Admin); err != nil {
			_ = srv.Close(context.WithoutCancel(ctx))
			return err
		}
	}
	log.Info("hotswap started", "version", version, "listen", srv.Addr().String(), "procs", runtime.GOMAXPROCS(0),
		"redis", upstream.Redacted(cfg.Redis), "admin", cfg.Admin)

	<-ctx.Done()
	log.Info("signal received: draining", "timeout", cfg.ShutdownTimeout)
	// A second signal while draining exits at once.
	stopCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go secondSignal(cancel)
	err = srv.Close(stopCtx)
	if adm != nil {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
		if aerr := adm.Close(cctx); aerr != nil && err == nil {
			err = aerr
		}
		ccancel()
	}
	if err != nil {
		log.Warn("stopped with error", "err", err)
		return err
	}
	log.Info("stopped")
	return nil
}

type status struct {
	Version       string            `json:"version"`
	UptimeSeconds float64           `json:"uptime_seconds"`
	Started       time.Time         `json:"started"`
	Proxy         proxy.Stats       `json:"proxy"`
	Families      []familyStatus    `json:"families,omitempty"`
	DynamoDB      *translate.Stats  `json:"dynamodb,omitempty"`
	Sync          *dual.Stats       `json:"sync,omitempty"`
	Shadow        *dual.ShadowStats `json:"shadow,omitempty"`
	Flags         *flagStatus       `json:"flags,omitempty"`
	Client        *dynamo.Stats     `json:"dynamodb_client,omitempty"`
	Fleet         *fleet.Status     `json:"fleet,omitempty"`
}

type familyStatus struct {
	Name  string `json:"name"`
	Match string `json:"match"`
	Type  string `json:"type"`
	Stage string `json:"stage"`
	Read  string `json:"read"`
}

func statusOf(srv *proxy.Server, mg *migration) status {
	st := status{
		Version:       version,
		UptimeSeconds: time.Since(srv.Started()).Seconds(),
		Started:       srv.Started(),
		Proxy:         srv.Stats(),
	}
	if mg.mapping != nil {
		for _, f := range mg.mapping.Families {
			st.Families = append(st.Families, familyStatus{Name: f.Name, Match: f.Match, Type: f.Kind.String(), Stage: f.Floor.String(), Read: readName(f.Read)})
		}
	}
	if mg.engine != nil {
		s := mg.engine.Stats()
		st.DynamoDB = &s
	}
	if mg.client != nil {
		s := mg.client.Stats()
		st.Client = &s
	}
	if mg.syncer != nil {
		s := mg.syncer.Stats()
		st.Sync = &s
	}
	if mg.shadow != nil {
		s := mg.shadow.Stats()
		st.Shadow = &s
	}
	if mg.stages != nil {
		fs := &flagStatus{Revision: mg.stages.Revision(), Stats: mg.stages.Stats()}
		if err := mg.stages.Ready(); err != nil {
			fs.NotReady = err.Error()
		}
		st.Flags = fs
	}
	if mg.fence != nil {
		fs := mg.fence.Status()
		st.Fleet = &fs
	}
	return st
}

type flagStatus struct {
	Revision string      `json:"revision"`
	NotReady string      `json:"not_ready,omitempty"`
	Stats    flags.Stats `json:"stats"`
}
