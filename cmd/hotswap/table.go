package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"hotswap/translate"
	"hotswap/translate/dynamo"
)

// tableConfig is everything `hotswap table create` reads from its flags.
type tableConfig struct {
	Mapping          string
	DynamoDBEndpoint string
	Region           string
	Timeout          time.Duration
	LogLevel         string
	LogFormat        string
}

func newTable() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "table",
		Short: "Manage the DynamoDB table hotswap writes to",
		// Without a subcommand (or with an unknown one) cobra would print help and
		// exit 0; a script that mistyped the subcommand must see it fail.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("table: missing subcommand (want: create)")}
			}
			return usageError{fmt.Errorf("table: unknown subcommand %q (want: create)", args[0])}
		},
	}
	cmd.AddCommand(newTableCreate())
	return cmd
}

func newTableCreate() *cobra.Command {
	var cfg tableConfig
	cmd := &cobra.Command{
		Use:   "create --mapping FILE",
		Short: "Create the mapping's DynamoDB table, with TTL and point-in-time recovery",
		Long: `create makes the table named by the mapping file ready for hotswap: key schema
pk (S, HASH) + sk (S, RANGE), on-demand billing, DynamoDB's TTL on the _ttl attribute and
point-in-time recovery. It waits until the table is ACTIVE. Running it again is safe: what
exists is checked and kept; a table with another key schema is an error. A local server
that lacks TTL or point-in-time recovery (dynalite) gets the table without them.

Credentials and the region come from the AWS SDK's usual sources (environment, shared
config, instance role); --dynamodb-endpoint (or AWS_ENDPOINT_URL_DYNAMODB) points it at a
local server.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTableCreate(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Mapping, "mapping", "", "key mapping file (YAML) whose table to create (required)")
	f.StringVar(&cfg.DynamoDBEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL (default: the AWS SDK's resolution)")
	f.StringVar(&cfg.Region, "region", "", "AWS region (default: the AWS SDK's resolution: AWS_REGION, the shared config)")
	f.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "give up after this long")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&cfg.LogFormat, "log-format", "text", "text or json")
	return cmd
}

func runTableCreate(ctx context.Context, cfg tableConfig) error {
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	if cfg.Mapping == "" {
		return usageError{errors.New("table create: --mapping is required")}
	}
	if cfg.Timeout <= 0 {
		return usageError{fmt.Errorf("table create: --timeout %s: want a positive duration", cfg.Timeout)}
	}
	m, err := translate.LoadMapping(cfg.Mapping)
	if err != nil {
		return fmt.Errorf("table create: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	c, err := dynamo.Open(ctx, dynamo.Options{Endpoint: cfg.DynamoDBEndpoint, Region: cfg.Region, Logger: log})
	if err != nil {
		return fmt.Errorf("table create: %w", err)
	}
	defer c.Close()
	if err := dynamo.CreateTable(ctx, c.API(), m.Table, log); err != nil {
		return fmt.Errorf("table create: %w", err)
	}
	return nil
}
