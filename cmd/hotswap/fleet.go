package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"hotswap/fleet"
	"hotswap/translate"
	"hotswap/translate/dynamo"
)

// fleetID is this instance's id in the fleet registry: the --fleet-id given, or
// the host name with a random suffix (a restarted instance is a new one; the old
// id ages out).
func fleetID(given string) string {
	if given != "" {
		return given
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hostName() + "-" + hex.EncodeToString(b[:])
}

func hostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "hotswap"
	}
	return h
}

// fleetLiveTTL: a one-shot reader counts an instance live when its last heartbeat,
// by its own clock, is younger than this.
const fleetLiveTTL = 5 * fleet.DefaultInterval

// fleetLagging names the live instances that may serve some entity of family
// below dualwrite (so a backfill could race writes that reach Redis only). With no
// live instance at all it says so: nothing would be dual-writing.
func fleetLagging(ctx context.Context, client *dynamo.Client, m *translate.Mapping, family string) ([]string, error) {
	st, err := fleet.NewRegistry(client.DB(), m.Table).Read(ctx)
	if err != nil {
		return nil, err
	}
	var lagging []string
	live := 0
	for _, n := range fleet.LiveByClock(st.Nodes, time.Now(), fleetLiveTTL) {
		if !n.Live {
			continue
		}
		live++
		r, ok := n.Stages[family]
		lo, perr := translate.ParseStage(r.Lo)
		if !ok || perr != nil || lo < translate.StageDualWrite {
			desc := "no stage range reported"
			if ok {
				desc = "stages " + r.Lo + ".." + r.Hi
			}
			lagging = append(lagging, fmt.Sprintf("%s (host %s, %s)", n.ID, n.Host, desc))
		}
	}
	if live == 0 {
		lagging = append(lagging, "no live hotswap instance in the fleet registry of table "+m.Table)
	}
	return lagging, nil
}

// killSwitch is the admin endpoint's action (nil without a fleet fence: with no
// flag source every family is at its floor, and there is nothing to switch).
func (mg *migration) killSwitch(log *slog.Logger) func(on bool) string {
	if mg == nil || mg.fence == nil {
		return nil
	}
	return func(on bool) string {
		msg, err := mg.fence.SetFleetKill(context.Background(), on)
		if err != nil {
			// The registry is unreachable: at least this instance, safely.
			msg = "the fleet registry is unreachable (" + err.Error() + "); " + mg.fence.SetLocalKill(on)
		}
		log.Warn("admin: kill switch", "on", on, "effect", msg)
		return msg
	}
}
