package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"hotswap/fleet"
	"hotswap/observe"
)

// `hotswap status`: what the status page shows, in the terminal, for one instance or
// several (their admin listeners' /summary).

func newStatus() *cobra.Command {
	var addrs []string
	var asJSON, fleetOnly bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what every stage and counter says now, for one instance or a list",
		Long: `status reads /summary from the admin listener of each instance (--admin
HOST:PORT, comma-separated or repeated) and prints, per key family, the stage mix
being served and shadow agreement over the last minutes, p50/p99 per backend, errors,
the repair journal, the flag revision, backfill progress and the fleet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(addrs) == 0 {
				return usageError{errors.New("--admin: give at least one HOST:PORT")}
			}
			return runStatus(cmd.Context(), cmd.OutOrStdout(), addrs, asJSON, fleetOnly, timeout)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&addrs, "admin", []string{"127.0.0.1:9090"}, "admin listeners to ask (HOST:PORT[,HOST:PORT...])")
	f.BoolVar(&asJSON, "json", false, "print the summaries as a JSON array instead of text")
	f.BoolVar(&fleetOnly, "fleet", false, "print only the fleet registry (every instance's heartbeat, revisions, stage ranges), as the first instance that answers reads it")
	f.DurationVar(&timeout, "timeout", 5*time.Second, "bound on each instance's answer")
	return cmd
}

// instanceSummary is one instance's answer.
type instanceSummary struct {
	Admin   string           `json:"admin"`
	Error   string           `json:"error,omitempty"`
	Summary *observe.Summary `json:"summary,omitempty"`
}

func runStatus(ctx context.Context, out io.Writer, addrs []string, asJSON, fleetOnly bool, timeout time.Duration) error {
	client := &http.Client{Timeout: timeout}
	res := make([]instanceSummary, len(addrs))
	done := make(chan struct{})
	for i, a := range addrs {
		go func() {
			defer func() { done <- struct{}{} }()
			res[i].Admin = a
			s, err := fetchSummary(ctx, client, a)
			if err != nil {
				res[i].Error = err.Error()
				return
			}
			res[i].Summary = s
		}()
	}
	for range addrs {
		<-done
	}
	failed := 0
	for _, r := range res {
		if r.Error != "" {
			failed++
		}
	}
	if fleetOnly {
		for _, r := range res {
			if r.Summary != nil {
				if asJSON {
					var doc struct {
						Fleet json.RawMessage `json:"fleet"`
					}
					_ = json.Unmarshal(r.Summary.Status, &doc)
					fmt.Fprintf(out, "%s\n", doc.Fleet)
				} else {
					fmt.Fprintf(out, "(as %s reads it)", r.Admin)
					printFleet(out, r.Summary.Status)
				}
				return nil
			}
		}
		return fmt.Errorf("status: none of %d instances answered", len(addrs))
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("status: %w", err)
		}
	} else {
		for i, r := range res {
			if i > 0 {
				fmt.Fprintln(out)
			}
			printSummary(out, r)
		}
	}
	if failed > 0 {
		return fmt.Errorf("status: %d of %d instances did not answer", failed, len(addrs))
	}
	return nil
}

func fetchSummary(ctx context.Context, client *http.Client, addr string) (*observe.Summary, error) {
	url := addr
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/summary", nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: /summary: %s: %s", addr, resp.Status, strings.TrimSpace(string(b)))
	}
	var s observe.Summary
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: /summary: %w", addr, err)
	}
	return &s, nil
}

func printSummary(out io.Writer, r instanceSummary) {
	if r.Error != "" {
		fmt.Fprintf(out, "== %s: ERROR %s\n", r.Admin, r.Error)
		return
	}
	s := r.Summary
	ready := "ready"
	if s.Ready != "" {
		ready = "NOT READY: " + strings.ReplaceAll(s.Ready, "\n", "; ")
	}
	fmt.Fprintf(out, "== %s (%s, %s, up %s): %s\n", s.Instance, r.Admin, s.Version,
		(time.Duration(s.UptimeSeconds) * time.Second).String(), ready)
	win := (time.Duration(s.WindowSeconds) * time.Second).String()
	if f := s.Flags; f != nil {
		if f.Loaded {
			fmt.Fprintf(out, "flags: revision %s, %d evaluations, %d fallbacks, %d rejected\n", f.Revision, f.Evaluations, f.Fallbacks, f.Rejected)
		} else {
			fmt.Fprintf(out, "flags: NOT LOADED (%s)\n", f.NotReady)
		}
	}
	fmt.Fprintf(out, "commands: %.1f/s over the last %s (%d, %d errors), %d since start, %d clients\n",
		s.Commands.PerSecond, win, s.Commands.Window, s.Commands.Errors, s.Commands.Total, s.Clients)
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	if len(s.Families) > 0 {
		fmt.Fprintf(tw, "\nFAMILY\tFLOOR\tSTAGE MIX (last %s)\tCMD/S\tERRORS\tSHADOW AGREEMENT\tMISMATCHES\n", win)
		for _, f := range s.Families {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%d\t%s\t%s\n", f.Name, f.Floor, stageMix(f.Stages), f.Commands.PerSecond,
				f.Commands.Errors, agreement(f.Shadow), mismatches(f.Shadow))
		}
	}
	if len(s.Backends) > 0 {
		fmt.Fprintf(tw, "\nBACKEND\tCALLS\tCALLS/S\tERRORS\tP50 MS\tP99 MS\n")
		for _, b := range s.Backends {
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%.2f\t%.2f\n", b.Name, b.Calls, b.PerSecond, b.Errors, b.P50ms, b.P99ms)
		}
	}
	_ = tw.Flush()
	if y := s.Sync; y != nil {
		breaker := "closed"
		if y.BreakerOpen {
			breaker = "OPEN"
		}
		fmt.Fprintf(out, "\njournal: depth %d, oldest %s; copies applied %d, failed %d, dropped %d, repaired %d; breaker %s\n",
			y.JournalDepth, (time.Duration(y.OldestAgeMS) * time.Millisecond).String(), y.Applied, y.Failed, y.Dropped, y.Repaired, breaker)
	}
	if d := s.DAX; d != nil {
		fmt.Fprintf(out, "dax: up %v, %d fallbacks to DynamoDB\n", d.Up, d.Fallbacks)
	}
	for _, b := range s.Backfills {
		done := "?"
		if p := b.Percent(); p >= 0 {
			done = fmt.Sprintf("%.1f%%", p)
		}
		fmt.Fprintf(out, "backfill %s: %s %s, scanned %d, copied %d, skipped %d, failed %d\n", b.Family, b.State, done, b.Scanned, b.Copied, b.Skipped, b.Failed)
	}
	printFleet(out, s.Status)
}

func stageMix(st map[string]uint64) string {
	var total uint64
	for _, n := range st {
		total += n
	}
	if total == 0 {
		return "-"
	}
	var parts []string
	for _, name := range []string{"off", "dualwrite", "shadow", "live", "rampdown", "complete"} {
		if n := st[name]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", name, float64(n)*100/float64(total)))
		}
	}
	return strings.Join(parts, " ")
}

func agreement(c observe.ShadowCounts) string {
	if c.Agreement < 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%% of %d", c.Agreement*100, c.Match+c.Mismatch)
}

func mismatches(c observe.ShadowCounts) string {
	if c.Mismatch == 0 {
		return "0"
	}
	keys := make([]string, 0, len(c.ByKind))
	for k := range c.ByKind {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, c.ByKind[k]))
	}
	return strings.Join(parts, ", ")
}

// printFleet prints the fleet registry as the instance last read it (the fleet
// member of its /status): the applied revision, any pause, and one line per
// instance.
func printFleet(out io.Writer, status json.RawMessage) {
	var doc struct {
		Fleet *fleet.Status `json:"fleet"`
	}
	if json.Unmarshal(status, &doc) != nil || doc.Fleet == nil {
		return
	}
	f := doc.Fleet
	fmt.Fprintf(out, "\nfleet: applied revision %s; this instance (%s) loaded %s", f.Applied, f.ID, f.Loaded)
	if len(f.Pausing) > 0 {
		fmt.Fprintf(out, "; PAUSING entities moving to %s (drained: %s)", strings.Join(f.Pausing, ", "), orNone(f.Drained))
	}
	fmt.Fprintf(out, "; %d advances, %d holds (%d timed out)", f.Advances, f.Holds, f.HoldTimeouts)
	if f.LastError != "" {
		fmt.Fprintf(out, "; last error: %s", f.LastError)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "INSTANCE\tHOST\tVERSION\tLIVE\tHEARTBEAT AGE\tLOADED\tAPPLIED\tDRAINED\tSTAGES\n")
	for _, n := range f.Nodes {
		live := "yes"
		if !n.Live {
			live = "GONE"
		}
		var stages []string
		for fam, r := range n.Stages {
			if r.Lo == r.Hi {
				stages = append(stages, fam+"="+r.Lo)
			} else {
				stages = append(stages, fam+"="+r.Lo+".."+r.Hi)
			}
		}
		sort.Strings(stages)
		lag := ""
		if n.Loaded != f.Applied {
			lag = " *"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s%s\t%s\t%s\t%s\n", n.ID, orNone(n.Host), orNone(n.Version), live,
			n.Age.Round(time.Millisecond), n.Loaded, lag, n.Applied, orNone(n.Drained), strings.Join(stages, " "))
	}
	_ = tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
