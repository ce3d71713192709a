package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"hotswap/dual"
	"hotswap/flags"
	"hotswap/migrate"
	"hotswap/proxy/upstream"
	"hotswap/translate"
	"hotswap/translate/dynamo"
)

// migrateConn is what backfill and verify connect to, from their flags.
type migrateConn struct {
	Mapping          string
	Family           string
	Redis            string
	DynamoDBEndpoint string
	DAXEndpoint      string
	Region           string
	Flags            string
	Flagd            string
	Concurrency      int
	ProgressInterval time.Duration
	LogLevel         string
	LogFormat        string
}

func (c *migrateConn) addFlags(f *pflag.FlagSet) {
	f.StringVar(&c.Mapping, "mapping", "", "key mapping file (YAML) (required)")
	f.StringVar(&c.Family, "family", "", "the key family (its name in the mapping) (required)")
	f.StringVar(&c.Redis, "redis", "redis://127.0.0.1:6379", "Redis URL: redis[s]://[user:password@]host:port[/db]")
	f.StringVar(&c.DynamoDBEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL (default: the AWS SDK's resolution, AWS_ENDPOINT_URL_DYNAMODB included)")
	f.StringVar(&c.DAXEndpoint, "dax-endpoint", "", "DAX cluster endpoint (dax://host:port or daxs://...): copies to DynamoDB are written through it so its item cache stays coherent")
	f.StringVar(&c.Region, "region", "", "AWS region (default: the AWS SDK's resolution, AWS_REGION included)")
	f.StringVar(&c.Flags, "flags", "", "flag file (flagd JSON) with the family's stage flag, as for serve (default: the family's floor)")
	f.StringVar(&c.Flagd, "flagd", "", "a flagd sync service (HOST:PORT) serving the stage flags, instead of --flags")
	f.IntVar(&c.Concurrency, "concurrency", migrate.DefaultConcurrency, "requests in flight at once")
	f.DurationVar(&c.ProgressInterval, "progress-interval", 10*time.Second, "how often progress is logged when stderr is not a terminal (a terminal gets a live progress bar)")
	f.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&c.LogFormat, "log-format", "text", "text or json")
}

// migrateEnv is an open connection to both stores.
type migrateEnv struct {
	log     *slog.Logger
	mapping *translate.Mapping
	family  *translate.Family
	pool    *upstream.Pool
	client  *dynamo.Client
	stages  flags.Source // nil: floors
}

func (e *migrateEnv) redis() dual.Redis { return dual.RedisFunc(e.pool.Do) }

// stage is the stage function for migrate: the flag source's, or the family floor.
func (e *migrateEnv) stage(ctx context.Context) func(r *translate.Route) translate.Stage {
	if e.stages == nil {
		return func(r *translate.Route) translate.Stage { return r.Family.Floor }
	}
	src := e.stages
	return func(r *translate.Route) translate.Stage { return src.Stage(ctx, r.Family, r.Entity) }
}

func (e *migrateEnv) Close() {
	if e.stages != nil {
		_ = e.stages.Close()
	}
	if e.client != nil {
		_ = e.client.Close()
	}
	if e.pool != nil {
		e.pool.Close()
	}
}

func (e *migrateEnv) progress(interval time.Duration) migrate.ProgressOptions {
	return migrate.ProgressOptions{Terminal: term.IsTerminal(int(os.Stderr.Fd())), W: os.Stderr, Interval: interval}
}

func openMigrateEnv(ctx context.Context, c migrateConn, what string) (*migrateEnv, error) {
	log, err := newLogger(c.LogLevel, c.LogFormat)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Mapping == "":
		return nil, usageError{fmt.Errorf("%s: --mapping is required", what)}
	case c.Family == "":
		return nil, usageError{fmt.Errorf("%s: --family is required", what)}
	case c.Concurrency <= 0:
		return nil, usageError{fmt.Errorf("%s: --concurrency %d: want at least 1", what, c.Concurrency)}
	case c.Flags != "" && c.Flagd != "":
		return nil, usageError{fmt.Errorf("%s: --flags and --flagd: give one flag source", what)}
	}
	m, err := translate.LoadMapping(c.Mapping)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	fam := m.Family(c.Family)
	if fam == nil {
		var names []string
		for _, f := range m.Families {
			names = append(names, f.Name)
		}
		return nil, usageError{fmt.Errorf("%s: the mapping has no family %q (it has %v)", what, c.Family, names)}
	}
	up, err := upstream.ParseURL(c.Redis)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: --redis: %w", what, err)}
	}
	up.SharedConns = max(1, min(8, c.Concurrency/4))
	up.ReadTimeout = 30 * time.Second
	env := &migrateEnv{log: log, mapping: m, family: fam, pool: upstream.NewPool(up)}
	switch {
	case c.Flags != "":
		var src *flags.OpenFeature
		if src, err = flags.OpenFile(ctx, c.Flags, log); err == nil {
			env.stages = src
			err = waitFlagsStrict(ctx, src)
		}
	case c.Flagd != "":
		var src *flags.OpenFeature
		if src, err = flags.OpenFlagd(ctx, c.Flagd, log); err == nil {
			env.stages = src
			err = waitFlagsStrict(ctx, src)
		}
	}
	if err != nil {
		env.Close()
		return nil, fmt.Errorf("%s: stage flags: %w", what, err)
	}
	env.client, err = dynamo.Open(ctx, dynamo.Options{
		Endpoint:    c.DynamoDBEndpoint,
		Region:      c.Region,
		DAXEndpoint: c.DAXEndpoint,
		Logger:      log,
		MaxConns:    max(16, c.Concurrency*2),
	})
	if err != nil {
		env.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return env, nil
}

// waitFlagsStrict waits for the flags to load: a one-shot command must not decide on
// floors when the flags say otherwise.
func waitFlagsStrict(ctx context.Context, src *flags.OpenFeature) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return src.WaitReady(wctx)
}

type backfillConfig struct {
	migrateConn
	Rate         float64
	Resume       bool
	Force        bool
	Reverse      bool
	LeaseTTL     time.Duration
	ScanCount    int
	Unmigratable string
	Checkpoint   time.Duration
}

func newBackfill() *cobra.Command {
	var cfg backfillConfig
	cmd := &cobra.Command{
		Use:   "backfill --mapping FILE --family NAME",
		Short: "Copy a key family's existing keys from Redis to DynamoDB (or back, with --reverse)",
		Long: `backfill copies every key of one family that Redis holds to DynamoDB, while the
application keeps writing through hotswap. It starts only when every live hotswap of
the fleet runs the family at dualwrite or later (--force skips the check), so that
writes made during the copy are copied too; each key's type, value and expiry are read
in one atomic step with a fresh version, and written with a conditional PutItem that
never overwrites a newer version or a tombstone: nothing written or deleted through
hotswap meanwhile is undone.

One backfill runs per family (a lease in the table); the checkpoint (Redis' run_id and
SCAN cursor) lets --resume continue after a crash. Keys that cannot be stored (too
large, wrong type for the family) are listed in --unmigratable. It exits non-zero when
any key was not copied.

--reverse copies DynamoDB back to Redis, for a rollback after complete: each item's
state is applied only where Redis holds an older version (the versions hash the live
stages keep), tombstones delete.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackfill(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	cfg.addFlags(f)
	f.Float64Var(&cfg.Rate, "rate", migrate.DefaultRate, "copies per second at most; 0 is unlimited (throttling from DynamoDB lowers the rate by itself)")
	f.BoolVar(&cfg.Resume, "resume", false, "continue from the family's checkpoint instead of the beginning")
	f.BoolVar(&cfg.Force, "force", false, "start even if the fleet registry cannot confirm that every instance dual-writes the family")
	f.BoolVar(&cfg.Reverse, "reverse", false, "copy DynamoDB back to Redis (rollback after complete)")
	f.DurationVar(&cfg.LeaseTTL, "lease-ttl", migrate.DefaultLeaseTTL, "the family lease's lifetime without renewal: how long a crashed backfill blocks the next")
	f.IntVar(&cfg.ScanCount, "scan-count", migrate.DefaultScanCount, "keys asked per SCAN (items per table Scan page with --reverse)")
	f.DurationVar(&cfg.Checkpoint, "checkpoint-interval", migrate.DefaultCheckpointInterval, "how often the checkpoint is written (what a --resume after a crash redoes at most)")
	f.StringVar(&cfg.Unmigratable, "unmigratable", "", "file listing the keys that cannot be copied (default hotswap-backfill-FAMILY-unmigratable.txt)")
	return cmd
}

func runBackfill(ctx context.Context, cfg backfillConfig, out io.Writer) error {
	if cfg.Rate < 0 {
		return usageError{fmt.Errorf("backfill: --rate %g: want 0 (unlimited) or more", cfg.Rate)}
	}
	if cfg.LeaseTTL < time.Second {
		return usageError{fmt.Errorf("backfill: --lease-ttl %s: want at least 1s", cfg.LeaseTTL)}
	}
	env, err := openMigrateEnv(ctx, cfg.migrateConn, "backfill")
	if err != nil {
		return err
	}
	defer env.Close()
	rate := cfg.Rate
	if rate == 0 {
		rate = -1 // migrate: negative is unlimited
	}
	o := migrate.Options{
		Mapping:            env.mapping,
		Family:             cfg.Family,
		Redis:              env.redis(),
		DB:                 env.client.DB(),
		Writes:             env.client.DB(),
		Logger:             env.log,
		Rate:               rate,
		Concurrency:        cfg.Concurrency,
		Resume:             cfg.Resume,
		Force:              cfg.Force,
		Stage:              env.stage(ctx),
		LeaseTTL:           cfg.LeaseTTL,
		ScanCount:          cfg.ScanCount,
		CheckpointInterval: cfg.Checkpoint,
		UnmigratablePath:   cfg.Unmigratable,
		Progress:           env.progress(cfg.ProgressInterval),
		Fleet: func(ctx context.Context, family string) ([]string, error) {
			return fleetLagging(ctx, env.client, env.mapping, family)
		},
	}
	if cfg.DAXEndpoint != "" && !cfg.Reverse {
		// Write-through keeps DAX's item cache coherent (DESIGN.md §6).
		o.Writes = env.client.Eventual()
	}
	run, what := migrate.Backfill, "backfill"
	if cfg.Reverse {
		run, what = migrate.Reverse, "reverse backfill"
	}
	res, err := run(ctx, o)
	printBackfill(out, what, cfg.Family, res)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !res.Complete() {
		return fmt.Errorf("%s of family %s: %d keys not copied (%d unmigratable, %d errors)", what, cfg.Family, res.Unmigratable+res.Errors, res.Unmigratable, res.Errors)
	}
	return nil
}

func printBackfill(w io.Writer, what, family string, r migrate.Result) {
	if r.AlreadyDone {
		fmt.Fprintf(w, "%s of family %s: the previous run completed; nothing to resume\n", what, family)
		return
	}
	secs := r.Duration.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(r.Seen) / secs
	}
	fmt.Fprintf(w, "%s of family %s: %d keys seen, %d copied, %d already newer in the target (or gone), %d left alone (stage), %d unmigratable, %d errors; %s, %.0f keys/s",
		what, family, r.Seen, r.Copied, r.Newer, r.Skipped, r.Unmigratable, r.Errors, r.Duration.Round(time.Millisecond), rate)
	if r.Resumed {
		fmt.Fprint(w, "; resumed from the checkpoint")
	}
	if r.Restarts > 0 {
		fmt.Fprintf(w, "; restarted %d times (Redis restarted)", r.Restarts)
	}
	fmt.Fprintln(w)
	if r.UnmigratablePath != "" {
		fmt.Fprintf(w, "unmigratable keys are listed in %s\n", r.UnmigratablePath)
	}
}
