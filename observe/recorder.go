package observe

import (
	"strings"
	"sync/atomic"
	"time"

	"hotswap/proxy/command"
	"hotswap/translate"
)

// The hot path. Every client command costs a few atomic adds into fixed arrays
// indexed by the command table's ID, the family's index and the stage: no lock, no
// allocation, and a map lookup only for commands on family keys. The instruments'
// callbacks and the histogram producer read the arrays when /metrics is scraped or
// an OTLP export runs, so cardinality is bounded by the command table, the mapping's
// families and the six stages.

const (
	nStages   = int(translate.StageComplete) + 1
	nOutcomes = 2 // ok, error
)

// boundsNS are the histogram bucket upper bounds, in nanoseconds: from 50 µs (a
// pipelined Redis command through hotswap) to 10 s (a DynamoDB call at its timeout).
var boundsNS = [...]int64{
	50e3, 100e3, 250e3, 500e3,
	1e6, 2.5e6, 5e6, 10e6, 25e6, 50e6, 100e6, 250e6, 500e6,
	1e9, 2.5e9, 5e9, 10e9,
}

const nBuckets = len(boundsNS) + 1

// boundsSeconds is boundsNS in seconds, as exported.
func boundsSeconds() []float64 {
	out := make([]float64, len(boundsNS))
	for i, b := range boundsNS {
		out[i] = float64(b) / 1e9
	}
	return out
}

// hist is a cumulative histogram of durations.
type hist struct {
	buckets [nBuckets]atomic.Uint64
	sumNS   atomic.Int64
}

func (h *hist) observe(d time.Duration) {
	ns := int64(d)
	i := 0
	for i < len(boundsNS) && ns > boundsNS[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNS.Add(ns)
}

// histSnap is a point-in-time copy of a hist.
type histSnap struct {
	Buckets [nBuckets]uint64
	SumNS   int64
}

func (h *hist) snap() histSnap {
	var s histSnap
	for i := range h.buckets {
		s.Buckets[i] = h.buckets[i].Load()
	}
	s.SumNS = h.sumNS.Load()
	return s
}

func (s histSnap) count() uint64 {
	var n uint64
	for _, b := range s.Buckets {
		n += b
	}
	return n
}

func (s *histSnap) add(o histSnap) {
	for i := range s.Buckets {
		s.Buckets[i] += o.Buckets[i]
	}
	s.SumNS += o.SumNS
}

// sub is s - o (o is an earlier snapshot of the same histogram).
func (s histSnap) sub(o histSnap) histSnap {
	for i := range s.Buckets {
		s.Buckets[i] -= o.Buckets[i]
	}
	s.SumNS -= o.SumNS
	return s
}

// quantile estimates the q-quantile as Prometheus' histogram_quantile does: linear
// interpolation inside the bucket that holds it. 0 when empty; the last finite bound
// when it falls in the overflow bucket.
func (s histSnap) quantile(q float64) time.Duration {
	total := s.count()
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, b := range s.Buckets {
		if b == 0 {
			continue
		}
		if seen+float64(b) >= rank {
			if i == len(boundsNS) {
				return time.Duration(boundsNS[len(boundsNS)-1])
			}
			lo := int64(0)
			if i > 0 {
				lo = boundsNS[i-1]
			}
			frac := (rank - seen) / float64(b)
			return time.Duration(float64(lo) + frac*float64(boundsNS[i]-lo))
		}
		seen += float64(b)
	}
	return time.Duration(boundsNS[len(boundsNS)-1])
}

// Backends, as db.system.name says them, and hotswap's short names.
const (
	backendRedis = iota
	backendDynamo
	backendDAX
	nBackends
)

var backendNames = [nBackends]string{"redis", "dynamodb", "dax"}

// dynamoOps are the DynamoDB operations the engine calls; anything else is "other".
var dynamoOps = []string{"GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem", "BatchWriteItem",
	"TransactWriteItems", "TransactGetItems", "Query", "Scan", "other"}

// recorder holds the hot-path counters. It implements proxy.Observer (with the
// tracer) and translate.CallObserver.
type recorder struct {
	nCmd   int                 // command.Count()+1: ID 0 is "unknown"
	fams   []*translate.Family // index 1..: fams[0] is nil, "no family"
	famIdx map[*translate.Family]int

	cmds    []atomic.Uint64 // [cmd][fam][stage][outcome]
	cmdHist []hist          // per command ID
	// Redis round trips: per command ID of a one-command segment, and index nCmd for
	// a pipeline of several; per outcome.
	redisHist [][nOutcomes]hist
	// DynamoDB and DAX calls: per backend, operation and outcome.
	dynHist [nBackends][][nOutcomes]hist
}

func newRecorder(fams []*translate.Family) *recorder {
	r := &recorder{nCmd: command.Count() + 1}
	r.setFamilies(fams)
	r.cmdHist = make([]hist, r.nCmd)
	r.redisHist = make([][nOutcomes]hist, r.nCmd+1)
	for b := backendDynamo; b < nBackends; b++ {
		r.dynHist[b] = make([][nOutcomes]hist, len(dynamoOps))
	}
	return r
}

// setFamilies sizes the command counters for the mapping's families; it must run
// before the first command is recorded.
func (r *recorder) setFamilies(fams []*translate.Family) {
	r.fams = append([]*translate.Family{nil}, fams...)
	r.famIdx = make(map[*translate.Family]int, len(fams))
	for i, f := range fams {
		r.famIdx[f] = i + 1
	}
	r.cmds = make([]atomic.Uint64, r.nCmd*len(r.fams)*nStages*nOutcomes)
}

func (r *recorder) cmdIndex(ci, fi, st, o int) int {
	return ((ci*len(r.fams)+fi)*nStages+st)*nOutcomes + o
}

// command records one client command (proxy.Observer.Command).
func (r *recorder) command(info *command.Info, fam *translate.Family, st translate.Stage, failed bool, d time.Duration) {
	ci := 0
	if info != nil {
		ci = info.ID()
	}
	fi := 0
	if fam != nil {
		fi = r.famIdx[fam] // 0 for a family of another mapping: counted as none
	}
	s := int(st)
	if s >= nStages {
		s = 0
	}
	o := 0
	if failed {
		o = 1
	}
	r.cmds[r.cmdIndex(ci, fi, s, o)].Add(1)
	r.cmdHist[ci].observe(d)
}

// redis records one Redis round trip.
func (r *recorder) redis(first *command.Info, n int, failed bool, d time.Duration) {
	i := r.nCmd // a pipeline
	if n <= 1 {
		i = 0
		if first != nil {
			i = first.ID()
		}
	}
	o := 0
	if failed {
		o = 1
	}
	r.redisHist[i][o].observe(d)
}

// Call records one DynamoDB or DAX call (translate.CallObserver).
func (r *recorder) Call(backend, op string, d time.Duration, failed bool) {
	b := backendDynamo
	if backend == "dax" {
		b = backendDAX
	}
	oi := len(dynamoOps) - 1
	for i, name := range dynamoOps {
		if name == op {
			oi = i
			break
		}
	}
	o := 0
	if failed {
		o = 1
	}
	r.dynHist[b][oi][o].observe(d)
}

// cmdName is the db.operation.name of a command ID: Redis' upper-case name,
// "CONFIG GET" for a subcommand, "UNKNOWN" for a command the table does not know.
func cmdName(id int) string {
	info := command.ByID(id)
	if info == nil {
		return "UNKNOWN"
	}
	return strings.ToUpper(strings.ReplaceAll(info.Name, "|", " "))
}

// backendSnap sums a backend's histograms over operations and outcomes; errs counts
// the failed calls.
func (r *recorder) backendSnap(b int) (all histSnap, errs uint64) {
	var hs [][nOutcomes]hist
	if b == backendRedis {
		hs = r.redisHist
	} else {
		hs = r.dynHist[b]
	}
	for i := range hs {
		for o := 0; o < nOutcomes; o++ {
			s := hs[i][o].snap()
			all.add(s)
			if o == 1 {
				errs += s.count()
			}
		}
	}
	return all, errs
}

// familyCounts sums the command counters per family and stage, and errors per family.
func (r *recorder) familyCounts() (byStage [][nStages]uint64, errs []uint64) {
	byStage = make([][nStages]uint64, len(r.fams))
	errs = make([]uint64, len(r.fams))
	for ci := 0; ci < r.nCmd; ci++ {
		for fi := range r.fams {
			for st := 0; st < nStages; st++ {
				base := r.cmdIndex(ci, fi, st, 0)
				ok, bad := r.cmds[base].Load(), r.cmds[base+1].Load()
				byStage[fi][st] += ok + bad
				errs[fi] += bad
			}
		}
	}
	return byStage, errs
}

// commandCounts sums the counters per command ID: calls and errors.
func (r *recorder) commandCounts() (calls, errs []uint64) {
	calls = make([]uint64, r.nCmd)
	errs = make([]uint64, r.nCmd)
	per := len(r.fams) * nStages * nOutcomes
	for ci := 0; ci < r.nCmd; ci++ {
		base := ci * per
		for j := 0; j < per; j += 2 {
			ok, bad := r.cmds[base+j].Load(), r.cmds[base+j+1].Load()
			calls[ci] += ok + bad
			errs[ci] += bad
		}
	}
	return calls, errs
}
