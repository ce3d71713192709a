package main_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/translate/storetest"
)

// runHotswap runs the binary to completion with extra environment variables and
// returns its combined output and exit code.
func runHotswap(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("run hotswap %v: %v", args, err)
	return "", -1
}

// mustMapping writes a mapping file naming table (and no families).
func mustMapping(t *testing.T, table string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mapping.yaml")
	if err := os.WriteFile(path, []byte("table: "+table+"\nfamilies: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// `hotswap table create` on dynalite and moto, twice each: the first run creates, the
// second finds the table ready. The endpoint comes from the flag, then from
// HOTSWAP_DYNAMODB_ENDPOINT.
func TestTableCreate(t *testing.T) {
	for name, endpoint := range map[string]string{"dynalite": storetest.MustDynalite(t), "moto": storetest.MustMoto(t)} {
		t.Run(name, func(t *testing.T) {
			raw := storetest.MustClient(t, endpoint)
			table := storetest.TableName(t)
			storetest.DeleteTableAtCleanup(t, raw, table)
			mapping := mustMapping(t, table)

			out, code := runHotswap(t, nil, "table", "create", "--mapping", mapping, "--dynamodb-endpoint", endpoint)
			if code != 0 || !strings.Contains(out, `msg="table created"`) || !strings.Contains(out, `msg="table ready"`) {
				t.Fatalf("first run: exit %d\n%s", code, out)
			}
			out, code = runHotswap(t, []string{"HOTSWAP_DYNAMODB_ENDPOINT=" + endpoint, "HOTSWAP_MAPPING=" + mapping, "HOTSWAP_LOG_FORMAT=json"}, "table", "create")
			if code != 0 || !strings.Contains(out, `"msg":"table exists"`) || !strings.Contains(out, `"msg":"table ready"`) {
				t.Fatalf("second run (env): exit %d\n%s", code, out)
			}

			ctx := context.Background()
			d, err := raw.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
			if err != nil {
				t.Fatal(err)
			}
			if d.Table.TableStatus != types.TableStatusActive {
				t.Errorf("status %s", d.Table.TableStatus)
			}
			switch name {
			case "dynalite":
				if !strings.Contains(out, "ttl not enabled") || !strings.Contains(out, "point-in-time recovery not enabled") {
					t.Errorf("dynalite: want TTL and PITR reported as skipped:\n%s", out)
				}
			case "moto":
				ttl, err := raw.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
				if err != nil {
					t.Fatal(err)
				}
				if td := ttl.TimeToLiveDescription; td == nil || td.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(td.AttributeName) != "_ttl" {
					t.Errorf("ttl %+v", td)
				}
				cb, err := raw.DescribeContinuousBackups(ctx, &dynamodb.DescribeContinuousBackupsInput{TableName: aws.String(table)})
				if err != nil {
					t.Fatal(err)
				}
				if p := cb.ContinuousBackupsDescription.PointInTimeRecoveryDescription; p == nil || p.PointInTimeRecoveryStatus != types.PointInTimeRecoveryStatusEnabled {
					t.Errorf("pitr %+v", p)
				}
			}
		})
	}
}

// A table with another key schema fails the command, naming what it found.
func TestTableCreate_WrongKeySchema(t *testing.T) {
	endpoint := storetest.MustDynalite(t)
	raw := storetest.MustClient(t, endpoint)
	table := storetest.TableName(t)
	storetest.DeleteTableAtCleanup(t, raw, table)
	if _, err := raw.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	out, code := runHotswap(t, nil, "table", "create", "--mapping", mustMapping(t, table), "--dynamodb-endpoint", endpoint)
	if code != 1 || !strings.Contains(out, "wrong key schema") || !strings.Contains(out, "id (S, HASH)") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// Usage errors exit 2; a mapping that cannot be read exits 1. None of these reach a
// server.
func TestTableCreate_Errors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("families: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		env  []string
		code int
		want string
	}{
		{[]string{"table"}, nil, 2, "missing subcommand"},
		{[]string{"table", "drop"}, nil, 2, `unknown subcommand "drop"`},
		{[]string{"table", "create"}, nil, 2, "--mapping is required"},
		{[]string{"table", "create", "extra", "--mapping", bad}, nil, 2, "unknown command"},
		{[]string{"table", "create", "--mapping", bad, "--log-level", "loud"}, nil, 2, "--log-level"},
		{[]string{"table", "create", "--no-such-flag"}, nil, 2, "unknown flag"},
		{[]string{"table", "create"}, []string{"HOTSWAP_TIMEOUT=soon"}, 2, "HOTSWAP_TIMEOUT"},
		{[]string{"table", "create", "--mapping", filepath.Join(t.TempDir(), "missing.yaml")}, nil, 1, "no such file"},
		{[]string{"table", "create", "--mapping", bad}, nil, 1, "table is required"},
	} {
		out, code := runHotswap(t, tc.env, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v %v: exit %d, want %d and %q in:\n%s", tc.env, tc.args, code, tc.code, tc.want, out)
		}
	}
}
