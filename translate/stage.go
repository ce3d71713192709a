package translate

import (
	"fmt"
	"strconv"
)

// Stage is where a family (for one entity) is in its move from Redis to DynamoDB
// (DESIGN.md §3). The constants are in migration order, so a floor compares with <.
type Stage uint8

// The six stages, named as LaunchDarkly's migration flags name them.
const (
	// StageOff: Redis only.
	StageOff Stage = iota
	// StageDualWrite: Redis serves; writes are copied to DynamoDB.
	StageDualWrite
	// StageShadow: as dualwrite, and reads are also compared with DynamoDB.
	StageShadow
	// StageLive: DynamoDB serves and is authoritative; writes are copied to Redis.
	StageLive
	// StageRampDown: DynamoDB only for reads; writes still copied to Redis.
	StageRampDown
	// StageComplete: DynamoDB only.
	StageComplete
)

// ParseStage reads a stage as flags and mapping files spell it: off, dualwrite,
// shadow, live, rampdown or complete. Matching is exact (lower case): a flag value
// that is almost right is an operator's mistake to report, not to guess.
func ParseStage(s string) (Stage, error) {
	for st := StageOff; st <= StageComplete; st++ {
		if s == st.String() {
			return st, nil
		}
	}
	return 0, fmt.Errorf("unknown stage %q (want off, dualwrite, shadow, live, rampdown or complete)", s)
}

// String returns the stage's name as flags spell it, or Stage(n) for a value
// outside the six.
func (s Stage) String() string {
	switch s {
	case StageOff:
		return "off"
	case StageDualWrite:
		return "dualwrite"
	case StageShadow:
		return "shadow"
	case StageLive:
		return "live"
	case StageRampDown:
		return "rampdown"
	case StageComplete:
		return "complete"
	}
	return "Stage(" + strconv.Itoa(int(s)) + ")"
}

// DynamoAuthoritative reports whether DynamoDB holds the truth at this stage (live
// and later): its write decides the reply and Redis only receives copies.
func (s Stage) DynamoAuthoritative() bool { return s >= StageLive }
