package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hotswap/migrate"
)

type verifyConfig struct {
	migrateConn
	Sample       float64
	Repair       bool
	LogValues    bool
	RecheckDelay time.Duration
	Examples     int
	ScanCount    int
}

func newVerify() *cobra.Command {
	var cfg verifyConfig
	cmd := &cobra.Command{
		Use:   "verify --mapping FILE --family NAME",
		Short: "Compare a key family in Redis and DynamoDB key by key (and --repair the differences)",
		Long: `verify compares every key of one family in both directions: a SCAN of Redis
compares each key with its DynamoDB item, and a Scan of the table finds items whose key
Redis does not hold (tombstones and expired items are not keys). Reads are strong;
values are compared as shadow reads compare them (order of fields and members ignored,
expiries within a second). A difference is read again after --recheck-delay before it
counts: a write in between is not a difference.

It prints the mismatch rate, the differences by kind (missing: only in Redis; extra:
only in DynamoDB; value; ttl; type) and a few examples (values redacted unless
--log-values). --repair copies the authoritative side over each difference: Redis
at off, dualwrite and shadow, DynamoDB at live, rampdown and complete (the stage comes
from --flags/--flagd, else the family's floor). It exits 0 only when no difference
remains.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	cfg.addFlags(f)
	f.Float64Var(&cfg.Sample, "sample", 1, "fraction of keys compared (0..1]")
	f.BoolVar(&cfg.Repair, "repair", false, "copy the authoritative side over every difference")
	f.BoolVar(&cfg.LogValues, "log-values", false, "show both sides of the examples (values are redacted by default)")
	f.DurationVar(&cfg.RecheckDelay, "recheck-delay", migrate.DefaultRecheckDelay, "pause before a difference is read again")
	f.IntVar(&cfg.Examples, "examples", migrate.DefaultExamples, "examples shown per kind of difference")
	f.IntVar(&cfg.ScanCount, "scan-count", migrate.DefaultScanCount, "keys asked per SCAN and items per table Scan page")
	return cmd
}

func runVerify(ctx context.Context, cfg verifyConfig, out io.Writer) error {
	if cfg.Sample <= 0 || cfg.Sample > 1 {
		return usageError{fmt.Errorf("verify: --sample %g: want a fraction in (0, 1]", cfg.Sample)}
	}
	env, err := openMigrateEnv(ctx, cfg.migrateConn, "verify")
	if err != nil {
		return err
	}
	defer env.Close()
	p := env.progress(cfg.ProgressInterval)
	res, err := migrate.Verify(ctx, migrate.VerifyOptions{
		Mapping:      env.mapping,
		Family:       cfg.Family,
		Redis:        env.redis(),
		DB:           env.client.DB(),
		Logger:       env.log,
		Sample:       cfg.Sample,
		Repair:       cfg.Repair,
		Concurrency:  cfg.Concurrency,
		LogValues:    cfg.LogValues,
		Stage:        env.stage(ctx),
		RecheckDelay: cfg.RecheckDelay,
		Examples:     cfg.Examples,
		ScanCount:    cfg.ScanCount,
		Progress:     p,
	})
	printVerify(out, cfg.Family, cfg.Repair, res)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if res.Errors > 0 {
		return fmt.Errorf("verify of family %s: %d keys could not be compared", cfg.Family, res.Errors)
	}
	if n := res.Remaining(cfg.Repair); n > 0 {
		return fmt.Errorf("verify of family %s: %d differences remain", cfg.Family, n)
	}
	return nil
}

func printVerify(w io.Writer, family string, repair bool, r migrate.VerifyResult) {
	fmt.Fprintf(w, "verify of family %s: %d keys compared (%d in Redis, %d in DynamoDB), %d differences, mismatch rate %.4f%%; %s\n",
		family, r.Compared, r.RedisKeys, r.DynamoKeys, r.Differences(), 100*r.MismatchRate(), r.Duration.Round(time.Millisecond))
	var parts []string
	for _, k := range migrate.DiffKinds() {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Counts[k]))
	}
	fmt.Fprintf(w, "  by kind: %s\n", strings.Join(parts, ", "))
	if r.Errors > 0 {
		fmt.Fprintf(w, "  %d keys could not be compared (errors)\n", r.Errors)
	}
	if len(r.Examples) > 0 {
		fmt.Fprintln(w, "  examples:")
		for _, d := range r.Examples {
			line := fmt.Sprintf("    %-7s %q", d.Kind, d.Key)
			if d.Redis != "" || d.DynamoDB != "" {
				line += fmt.Sprintf("  redis: %s  dynamodb: %s", d.Redis, d.DynamoDB)
			}
			switch {
			case d.Repaired:
				line += "  [repaired]"
			case d.RepairError != "":
				line += "  [repair failed: " + d.RepairError + "]"
			}
			fmt.Fprintln(w, line)
		}
	}
	if repair {
		fmt.Fprintf(w, "  repair: %d repaired, %d failed\n", r.Repaired, r.RepairFailed)
	}
}
