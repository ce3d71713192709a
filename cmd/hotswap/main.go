// Command hotswap is a Redis-protocol sidecar that moves a live data set from Redis to
// DynamoDB while the application keeps talking Redis. See the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is stamped at build time: -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := NewRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "hotswap:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

// NewRoot builds the command tree. Every flag can also be set by the environment
// variable HOTSWAP_<FLAG>, upper-cased with dashes as underscores
// (--read-timeout: HOTSWAP_READ_TIMEOUT); a flag on the command line wins.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "hotswap",
		Short:         "Move a live Redis data set to DynamoDB behind the Redis protocol",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return applyEnv(cmd.Flags())
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServe(), newVersion())
	root.AddCommand(newTable())
	root.AddCommand(newBackfill(), newVerify())
	root.AddCommand(newStatus())
	return root
}

// applyEnv sets every flag not given on the command line from HOTSWAP_<FLAG>.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := EnvName(f.Name)
		if v, ok := os.LookupEnv(name); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = usageError{fmt.Errorf("%s=%q: %w", name, v, serr)}
			}
		}
	})
	return err
}

// EnvName is the environment variable for a flag.
func EnvName(flag string) string {
	return "HOTSWAP_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "hotswap", version)
		},
	}
}
