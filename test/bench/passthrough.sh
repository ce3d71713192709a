#!/usr/bin/env bash
# Pass-through benchmark: direct Redis vs twemproxy vs hotswap, all in front of
# the same redis-server, with redis-benchmark as the client. See README.md.
#
# Everything runs on loopback ports the kernel hands out; every process the
# script starts is stopped when it exits. Progress goes to stderr, the report to
# stdout, and the markdown report also to $OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

REPS=${REPS:-5}
N=${N:-200000}
TESTS=${TESTS:-set,get,hset,sadd,lpush,mset}
PIPELINES=${PIPELINES:-1 16}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
DATASIZE=${DATASIZE:-100}
TARGETS=${TARGETS:-direct twemproxy hotswap}
TWEM_CONNS=${TWEM_CONNS:-1}
IDLE_CONNS=${IDLE_CONNS:-5000}
IDLE_HOLD=${IDLE_HOLD:-8}
IDLE_PHASES=${IDLE_PHASES:-cold warm}
NOFILE=${NOFILE:-65536}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-600}
HOTSWAP_BIN=${HOTSWAP_BIN:-}
HOTSWAP_ARGS=${HOTSWAP_ARGS:-}
# The telemetry variants (docs in README.md): hotswap-nometrics runs with --metrics=false,
# hotswap-trace1 traces 1% of commands (TRACE_SAMPLE) and exports the spans over OTLP/HTTP
# to a local sink; plain `hotswap` has metrics on and tracing off (the defaults).
# OBSERVE=1 adds both variants to TARGETS.
OBSERVE=${OBSERVE:-0}
TRACE_SAMPLE=${TRACE_SAMPLE:-0.01}
FLUSH=${FLUSH:-1}
MAX_OTHER_LOAD=${MAX_OTHER_LOAD:-20}
BUSY_RETRIES=${BUSY_RETRIES:-1}
MAX_RETRIES=${MAX_RETRIES:-}
KEEP_WORK=${KEEP_WORK:-0}
OUT=${OUT:-}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

if [[ $OBSERVE == 1 ]]; then
	[[ " $TARGETS " == *" hotswap-nometrics "* ]] || TARGETS+=" hotswap-nometrics"
	[[ " $TARGETS " == *" hotswap "* ]] || TARGETS+=" hotswap"
	[[ " $TARGETS " == *" hotswap-trace1 "* ]] || TARGETS+=" hotswap-trace1"
fi
for t in $TARGETS; do
	case $t in direct | twemproxy | hotswap | hotswap-nometrics | hotswap-trace1) ;;
	*) die "unknown target '$t' in TARGETS (want direct, twemproxy, hotswap, hotswap-nometrics, hotswap-trace1)" ;;
	esac
done
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer"
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer"
[[ $IDLE_CONNS =~ ^[0-9]+$ ]] || die "IDLE_CONNS must be a non-negative integer"

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (apt-get install -y ${2:-$1})"; }
need redis-server redis-server
need redis-cli redis-tools
need redis-benchmark redis-tools
need go golang
need timeout coreutils
NUTCRACKER=${NUTCRACKER:-$(command -v nutcracker || echo /usr/sbin/nutcracker)}
if has_target twemproxy; then [[ -x $NUTCRACKER ]] || die "nutcracker not found (apt-get install -y nutcracker)"; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hotswap-bench.XXXXXX")
if [[ -z $OUT ]]; then OUT=$(mktemp "${TMPDIR:-/tmp}/hotswap-passthrough.XXXXXX.md"); fi
PIDS=()    # servers, stopped on exit
IDLE_PID= # the idleconns process while one runs
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -n $IDLE_PID ]] && PIDS+=("$IDLE_PID")
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [[ $KEEP_WORK == 1 || $rc != 0 ]]; then log "logs and raw data kept in $WORK"; else rm -rf "$WORK"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

SCRIPT_START=$(date +%s)

# File descriptors: IDLE_CONNS clients plus their upstream side must fit.
ulimit -n "$NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if ((IDLE_CONNS > 0 && $(ulimit -n) < IDLE_CONNS + 1024)); then
	log "warning: ulimit -n is $(ulimit -n), too low for $IDLE_CONNS idle connections"
fi

# --- build helpers (and hotswap) --------------------------------------------------
log "building helpers in $WORK"
(cd "$ROOT" && go build -o "$WORK/freeport" ./test/bench/freeport && go build -o "$WORK/idleconns" ./test/bench/idleconns &&
	go build -o "$WORK/otlpsink" ./test/bench/otlpsink) ||
	die "building test/bench helpers failed"
any_hotswap() { has_target hotswap || has_target hotswap-nometrics || has_target hotswap-trace1; }
if any_hotswap && [[ -z $HOTSWAP_BIN ]]; then
	log "building hotswap (go build ./cmd/hotswap)"
	if ! (cd "$ROOT" && go build -o "$WORK/hotswap" ./cmd/hotswap) >"$WORK/hotswap-build.log" 2>&1; then
		cat "$WORK/hotswap-build.log" >&2
		die "building ./cmd/hotswap failed; fix it, pass HOTSWAP_BIN, or run with TARGETS='direct twemproxy'"
	fi
	HOTSWAP_BIN=$WORK/hotswap
fi

# --- ports and processes -----------------------------------------------------------
mapfile -t PORTS < <("$WORK/freeport" -n 10) || die "freeport failed"
REDIS_PORT=${PORTS[0]} TWEM_PORT=${PORTS[1]} TWEM_STATS_PORT=${PORTS[2]} HS_PORT=${PORTS[3]} HS_ADMIN_PORT=${PORTS[4]}
HSN_PORT=${PORTS[5]} HSN_ADMIN_PORT=${PORTS[6]} HST_PORT=${PORTS[7]} HST_ADMIN_PORT=${PORTS[8]} SINK_PORT=${PORTS[9]}

wait_ping() { # port pid name
	local i
	for ((i = 0; i < 200; i++)); do
		kill -0 "$2" 2>/dev/null || die "$3 exited during startup (see $WORK/$3.log)"
		[[ $(redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null) == PONG ]] && return 0
		sleep 0.05
	done
	die "$3 did not answer PING on port $1 within 10s (see $WORK/$3.log)"
}
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

log "starting redis-server on 127.0.0.1:$REDIS_PORT"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK" \
	--logfile "$WORK/redis.log" --daemonize no >/dev/null 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
wait_ping "$REDIS_PORT" "$REDIS_PID" redis

TWEM_PID=
if has_target twemproxy; then
	cat >"$WORK/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:$TWEM_PORT
  redis: true
  hash: fnv1a_64
  distribution: ketama
  preconnect: true
  auto_eject_hosts: false
  server_connections: $TWEM_CONNS
  servers:
   - 127.0.0.1:$REDIS_PORT:1
EOF
	log "starting twemproxy on 127.0.0.1:$TWEM_PORT (stats $TWEM_STATS_PORT, server_connections $TWEM_CONNS)"
	"$NUTCRACKER" -c "$WORK/nutcracker.yml" -s "$TWEM_STATS_PORT" -a 127.0.0.1 \
		-o "$WORK/twemproxy.log" -p "$WORK/nutcracker.pid" >/dev/null 2>&1 &
	TWEM_PID=$!
	PIDS+=("$TWEM_PID")
	wait_ping "$TWEM_PORT" "$TWEM_PID" twemproxy
fi

HS_PID=
if has_target hotswap; then
	log "starting hotswap on 127.0.0.1:$HS_PORT (admin $HS_ADMIN_PORT)"
	# shellcheck disable=SC2086 # HOTSWAP_ARGS is a list of words
	"$HOTSWAP_BIN" serve --listen "127.0.0.1:$HS_PORT" --redis "redis://127.0.0.1:$REDIS_PORT" \
		--admin "127.0.0.1:$HS_ADMIN_PORT" $HOTSWAP_ARGS >"$WORK/hotswap.log" 2>&1 &
	HS_PID=$!
	PIDS+=("$HS_PID")
	wait_ping "$HS_PORT" "$HS_PID" hotswap
fi

HSN_PID=
if has_target hotswap-nometrics; then
	log "starting hotswap --metrics=false on 127.0.0.1:$HSN_PORT (admin $HSN_ADMIN_PORT)"
	# shellcheck disable=SC2086 # HOTSWAP_ARGS is a list of words
	"$HOTSWAP_BIN" serve --listen "127.0.0.1:$HSN_PORT" --redis "redis://127.0.0.1:$REDIS_PORT" \
		--admin "127.0.0.1:$HSN_ADMIN_PORT" --metrics=false $HOTSWAP_ARGS >"$WORK/hotswap-nometrics.log" 2>&1 &
	HSN_PID=$!
	PIDS+=("$HSN_PID")
	wait_ping "$HSN_PORT" "$HSN_PID" hotswap-nometrics
fi
HST_PID=
if has_target hotswap-trace1; then
	"$WORK/otlpsink" -addr "127.0.0.1:$SINK_PORT" >"$WORK/otlpsink.log" 2>&1 &
	PIDS+=("$!")
	log "starting hotswap --trace-sample $TRACE_SAMPLE on 127.0.0.1:$HST_PORT (admin $HST_ADMIN_PORT), spans to an OTLP sink on $SINK_PORT"
	# shellcheck disable=SC2086 # HOTSWAP_ARGS is a list of words
	OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_METRICS_EXPORTER=none \
		"$HOTSWAP_BIN" serve --listen "127.0.0.1:$HST_PORT" --redis "redis://127.0.0.1:$REDIS_PORT" \
		--admin "127.0.0.1:$HST_ADMIN_PORT" --trace-sample "$TRACE_SAMPLE" $HOTSWAP_ARGS >"$WORK/hotswap-trace1.log" 2>&1 &
	HST_PID=$!
	PIDS+=("$HST_PID")
	wait_ping "$HST_PORT" "$HST_PID" hotswap-trace1
fi

port_of() {
	case $1 in
	direct) echo "$REDIS_PORT" ;; twemproxy) echo "$TWEM_PORT" ;; hotswap) echo "$HS_PORT" ;;
	hotswap-nometrics) echo "$HSN_PORT" ;; hotswap-trace1) echo "$HST_PORT" ;;
	esac
}
# The process whose memory and CPU a target costs (direct: Redis itself).
pid_of() {
	case $1 in
	direct) echo "$REDIS_PID" ;; twemproxy) echo "$TWEM_PID" ;; hotswap) echo "$HS_PID" ;;
	hotswap-nometrics) echo "$HSN_PID" ;; hotswap-trace1) echo "$HST_PID" ;;
	esac
}

# utime+stime of a whole process (all threads), in clock ticks. Fields after "(comm) ":
# $1 is field 3 (state), so utime (14) and stime (15) are $12 and $13.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)
# Ticks the whole machine spent in processes (user nice system) and stolen by the hypervisor.
# irq/softirq time (much of loopback TCP) is charged to no process, so it is left out of both sides.
machine_busy() { awk '/^cpu / { print $2 + $3 + $4 }' /proc/stat; }
machine_steal() { awk '/^cpu / { print $9 }' /proc/stat; }
# CPU of this script's finished children (redis-benchmark, redis-cli, awk ...): cutime+cstime.
SCRIPT_PID=$$
children_ticks() { awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$SCRIPT_PID/stat"; }
# CPU of the servers this script runs.
servers_ticks() {
	local pid t=0
	for pid in "$REDIS_PID" $TWEM_PID $HS_PID $HSN_PID $HST_PID; do t=$((t + $(cpu_ticks "$pid" 2>/dev/null || echo 0))); done
	echo "$t"
}

# --- machine info --------------------------------------------------------------
CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
REDIS_VERSION=$(rcli INFO server | awk -F: '/^redis_version/ { sub(/\r/, "", $2); print $2 }')
TWEM_VERSION=$("$NUTCRACKER" --version 2>&1 | awk '/This is/ { print $3; exit }' || true)
BENCH_CMD="redis-benchmark -h 127.0.0.1 -p PORT -c $CLIENTS -n $N -r $KEYSPACE -d $DATASIZE -t TEST -P PIPELINE --csv"
INFO=$(
	cat <<EOF
- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)
- machine: $(nproc) CPUs ($CPU_MODEL), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)
- redis-server ${REDIS_VERSION:-?}, ${TWEM_VERSION:-nutcracker ?}, $(redis-benchmark --version 2>/dev/null | head -1), $(go version | awk '{ print $3 }')
- script: \`REPS=$REPS N=$N TESTS=$TESTS PIPELINES="$PIPELINES" TARGETS="$TARGETS" TWEM_CONNS=$TWEM_CONNS IDLE_CONNS=$IDLE_CONNS test/bench/passthrough.sh\`
- each cell: \`$BENCH_CMD\` (one test per invocation so CPU can be charged to it), PIPELINE in {${PIPELINES// /, }}, median of $REPS interleaved repetitions (the targets take turns going first)$( ((FLUSH)) && echo ", FLUSHALL on redis before each target's run")
- twemproxy: one pool, fnv1a_64/ketama, preconnect, server_connections $TWEM_CONNS, default mbuf (16 KiB)
EOF
)
log "machine: $(nproc) CPUs, $CPU_MODEL; redis $REDIS_VERSION"

# --- idle connection memory -----------------------------------------------------
# idle_phase LABEL: for each target, RSS of its serving process before IDLE_CONNS idle
# clients connect, 1 s after they are all set up, and after holding them IDLE_HOLD seconds
# (Redis frees an idle client's query buffer after 2 s; Go returns freed memory lazily).
IDLE_TSV=$WORK/idle.tsv
: >"$IDLE_TSV"
idle_phase() {
	local phase=$1 target pid before peak after rafter ok i
	for target in $TARGETS; do
		[[ $DEAD == *" $target "* ]] && continue
		[[ $phase == warm && $target == direct ]] && continue # Redis is the reference; cold is enough
		pid=$(pid_of "$target")
		rcli FLUSHALL >/dev/null
		sleep 0.5
		before=$(rss_kib "$pid")
		log "idle ($phase): opening $IDLE_CONNS connections to $target, holding them ${IDLE_HOLD}s"
		"$WORK/idleconns" -addr "127.0.0.1:$(port_of "$target")" -n "$IDLE_CONNS" >"$WORK/idle.out" 2>"$WORK/idle.err" &
		IDLE_PID=$!
		ok=0
		for ((i = 0; i < 1200; i++)); do
			if grep -q '^ready' "$WORK/idle.out" 2>/dev/null; then ok=1; break; fi
			kill -0 "$IDLE_PID" 2>/dev/null || break
			sleep 0.1
		done
		if ((ok)); then
			sleep 1
			peak=$(rss_kib "$pid")
			sleep "$((IDLE_HOLD > 1 ? IDLE_HOLD - 1 : 0))"
			after=$(rss_kib "$pid")
			rafter=$(rss_kib "$REDIS_PID")
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$target" "$before" "$peak" "$after" "$rafter" >>"$IDLE_TSV"
			log "idle ($phase): $target RSS $((before / 1024)) MiB -> $((peak / 1024)) MiB at 1 s -> $((after / 1024)) MiB at ${IDLE_HOLD}s"
		else
			log "idle ($phase): $target failed: $(head -c 300 "$WORK/idle.err")"
			printf '%s\t%s\tfail\t\t\t\n' "$phase" "$target" >>"$IDLE_TSV"
		fi
		kill "$IDLE_PID" 2>/dev/null || true
		wait "$IDLE_PID" 2>/dev/null || true
		IDLE_PID=
		sleep 0.5 # let the server reap the closed connections
	done
}
DEAD=" "
if ((IDLE_CONNS > 0)) && [[ " $IDLE_PHASES " == *" cold "* ]]; then idle_phase cold; fi

# --- throughput / latency / CPU ------------------------------------------------
# raw.tsv: target rep pipeline test rps avg min p50 p95 p99 max proxy_cpu_us_per_cmd redis_cpu_us_per_cmd
# redis_calls_per_cmd other_load_pct steal_pct
RAW=$WORK/raw.tsv
: >"$RAW"
IFS=, read -r -a TEST_LIST <<<"$TESTS"
NTARGETS=$(wc -w <<<"$TARGETS")
NPIPE=$(wc -w <<<"$PIPELINES")
TOTAL_RUNS=$((REPS * NPIPE * NTARGETS * ${#TEST_LIST[@]}))
RUN=0
RETRIES_MAX=${MAX_RETRIES:-$((TOTAL_RUNS / 5))}
RETRIES_LEFT=$RETRIES_MAX
BENCH_START=$(date +%s)

# Commands Redis executed since the last CONFIG RESETSTAT, all kinds but CONFIG/INFO.
redis_calls() {
	rcli INFO commandstats | awk -F'[:=,]' '/^cmdstat_/ && $1 !~ /cmdstat_(config|info|ping)$/ { n += $3 } END { print n + 0 }'
}

# bench_once TARGET REP PIPELINE TEST: one redis-benchmark run, appended to raw.tsv.
# Returns 1 if the run failed, 2 if the target died; sets LAST_OTHER (other load, %).
bench_once() {
	local target=$1 rep=$2 pipe=$3 test=$4
	local port ppid p0 p1 r0 r1 m0 m1 st0 st1 s0 s1 c0 c1 t0 t1 rc other calls line
	local _name rps avg min p50 p95 p99 max
	port=$(port_of "$target")
	ppid=$(pid_of "$target")
	rcli CONFIG RESETSTAT >/dev/null
	p0=$(cpu_ticks "$ppid")
	r0=$(cpu_ticks "$REDIS_PID")
	m0=$(machine_busy) st0=$(machine_steal) s0=$(servers_ticks) c0=$(children_ticks) t0=$(date +%s%N)
	rc=0
	timeout "$BENCH_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$N" -r "$KEYSPACE" \
		-d "$DATASIZE" -t "$test" -P "$pipe" --csv >"$WORK/bench.out" 2>"$WORK/bench.err" || rc=$?
	t1=$(date +%s%N) c1=$(children_ticks) s1=$(servers_ticks) st1=$(machine_steal) m1=$(machine_busy)
	p1=$(cpu_ticks "$ppid" 2>/dev/null || echo "$p0")
	r1=$(cpu_ticks "$REDIS_PID")
	# Share of the machine's CPU used by processes other than the client and the servers (builds,
	# tests, ...) and stolen by the hypervisor, in % of the run's wall time on all CPUs.
	other=$(awk -v b="$((m1 - m0 - (s1 - s0) - (c1 - c0)))" -v st="$((st1 - st0))" -v ns="$((t1 - t0))" \
		-v hz="$CLK_TCK" -v n="$NCPU" 'BEGIN { cap = ns / 1e9 * hz * n / 100; f = b / cap; printf "%.0f\t%.0f", f < 0 ? 0 : f, st / cap }')
	LAST_OTHER=${other%%$'\t'*}
	calls=$(redis_calls)
	line=$(awk -F, 'NR > 1 && NF >= 8 { gsub(/"/, ""); print; exit }' "$WORK/bench.out")
	if ((rc != 0)) || [[ -z $line ]] || grep -qi 'error' "$WORK/bench.err"; then
		log "  FAILED (exit $rc): $(head -c 300 "$WORK/bench.err" | tr '\n' ' ') $(head -c 300 "$WORK/bench.out" | tr '\n' ' ')"
		if ! kill -0 "$ppid" 2>/dev/null; then
			log "  $target is no longer running; skipping it from now on (see $WORK/$target.log)"
			DEAD+="$target "
			return 2
		fi
		return 1
	fi
	IFS=, read -r _name rps avg min p50 p95 p99 max <<<"$line"
	awk -v t="$target" -v rep="$rep" -v pipe="$pipe" -v test="$test" -v rps="$rps" -v avg="$avg" \
		-v min="$min" -v p50="$p50" -v p95="$p95" -v p99="$p99" -v max="$max" \
		-v dp="$((p1 - p0))" -v dr="$((r1 - r0))" -v hz="$CLK_TCK" -v n="$N" -v calls="$calls" -v other="$other" 'BEGIN {
		pcpu = (t == "direct") ? "-" : sprintf("%.2f", dp / hz * 1e6 / n)
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.3f\t%s\n",
			t, rep, pipe, test, rps, avg, min, p50, p95, p99, max, pcpu, dr / hz * 1e6 / n, calls / n, other
	}' >>"$RAW"
	tail -1 "$RAW" | awk -F'\t' '{ printf "  %s rps, p50 %s ms, p99 %s ms, proxy %s us/cmd, redis %s us/cmd, redis calls/cmd %s, other load %s%%, steal %s%%\n", $5, $8, $10, $12, $13, $14, $15, $16 }' >&2
	if ((calls < N * 99 / 100)); then
		log "  warning: redis executed only $calls commands for $N requests: is the target answering without forwarding?"
	fi
	return 0
}

# The targets take turns going first: repetition r starts with the r-th target, so no
# target always runs right after another (or last, on a machine that drifts) and the
# medians carry no order bias.
read -r -a TARGET_LIST <<<"$TARGETS"
rotated() {
	local k=$((($1 - 1) % ${#TARGET_LIST[@]}))
	echo "${TARGET_LIST[@]:k}" "${TARGET_LIST[@]:0:k}"
}
for ((rep = 1; rep <= REPS; rep++)); do
	for pipe in $PIPELINES; do
		for target in $(rotated "$rep"); do
			[[ $DEAD == *" $target "* ]] && continue
			((FLUSH)) && rcli FLUSHALL >/dev/null
			for test in "${TEST_LIST[@]}"; do
				RUN=$((RUN + 1))
				elapsed=$(($(date +%s) - BENCH_START))
				eta=""
				((RUN > 1 && elapsed > 0)) && eta=", ~$((elapsed * (TOTAL_RUNS - RUN + 1) / (RUN - 1)))s left"
				log "run $RUN/$TOTAL_RUNS: rep $rep, -P $pipe, $target, $test$eta"
				for ((try = 0; ; try++)); do
					st=0
					bench_once "$target" "$rep" "$pipe" "$test" || st=$?
					((st == 2)) && break 2 # the target died: skip the rest of its tests
					((st == 1)) && break
					((LAST_OTHER > MAX_OTHER_LOAD && try < BUSY_RETRIES && RETRIES_LEFT > 0)) || break
					RETRIES_LEFT=$((RETRIES_LEFT - 1))
					log "  the machine was busy (${LAST_OTHER}% other load): running it again ($RETRIES_LEFT retries left)"
				done
			done
		done
	done
done
BENCH_END=$(date +%s)
if ((IDLE_CONNS > 0)) && [[ " $IDLE_PHASES " == *" warm "* ]]; then idle_phase warm; fi

# --- report ----------------------------------------------------------------------
# Medians per (target, pipeline, test) of every numeric column.
# Runs during which other work took more than MAX_OTHER_LOAD% of the machine are left out of a
# cell's medians when at least REPS/2 of its runs (retries included) were quieter; otherwise all
# runs count and the cell is marked (column 15 = 1).
MED=$WORK/median.tsv
awk -F'\t' -v maxo="$MAX_OTHER_LOAD" -v reps="$REPS" '
function median(s,    a, n, i, j, x) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++) a[i] += 0
	for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
	if (n % 2) return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	k = $1 SUBSEP $3 SUBSEP $4
	if (!(k in cnt)) order[++nk] = k
	cnt[k]++
	quiet = ($15 + 0 <= maxo)
	if (quiet) nq[k]++
	for (c = 5; c <= 14; c++) { all[k, c] = all[k, c] " " $c; if (quiet) q[k, c] = q[k, c] " " $c }
}
END {
	for (i = 1; i <= nk; i++) {
		k = order[i]; split(k, p, SUBSEP)
		useq = (nq[k] * 2 >= reps)
		printf "%s\t%s\t%s\t%d", p[1], p[2], p[3], useq ? nq[k] : cnt[k]
		for (c = 5; c <= 14; c++) {
			if (c == 12 && p[1] == "direct") printf "\t-"
			else printf "\t%s", median(useq ? q[k, c] : all[k, c])
		}
		printf "\t%d\n", useq ? 0 : 1
	}
}' "$RAW" >"$MED"

{
	echo "## hotswap pass-through benchmark"
	echo
	echo "$INFO"
	echo
	echo "Throughput in requests/s (ratio to direct Redis), latency p50/p99 in ms, proxy CPU in µs of"
	echo "user+system time per command (utime+stime from /proc, all threads): medians over $REPS interleaved"
	echo "repetitions. A run during which other processes used more than $MAX_OTHER_LOAD% of the machine is repeated"
	echo "(up to $BUSY_RETRIES time(s) each, at most $RETRIES_MAX in all; this run repeated $((RETRIES_MAX - RETRIES_LEFT))) and left out of its cell's median when the cell has at"
	echo "least $(((REPS + 1) / 2)) quieter runs; † marks a cell that had not (all its runs counted: noisy)."
	echo
	echo "| test | P | direct rps | twemproxy rps | hotswap rps | direct p50/p99 | twemproxy p50/p99 | hotswap p50/p99 | hotswap µs CPU/cmd | twemproxy µs CPU/cmd |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for pipe in $PIPELINES; do
		for test in "${TEST_LIST[@]}"; do
			awk -F'\t' -v pipe="$pipe" -v test="$test" '
				$2 == pipe && $3 == test { rps[$1] = $5; p50[$1] = $8; p99[$1] = $10; cpu[$1] = $12; busy[$1] = $15 ? " †" : "" }
				function r(t) {
					if (!(t in rps)) return "—"
					if (t == "direct" || !("direct" in rps)) return sprintf("%.0f%s", rps[t], busy[t])
					return sprintf("%.0f (%.2fx)%s", rps[t], rps[t] / rps["direct"], busy[t])
				}
				function l(t) { return (t in rps) ? sprintf("%.3f / %.3f", p50[t], p99[t]) : "—" }
				function c(t) { return (t in rps) ? sprintf("%.1f", cpu[t]) : "—" }
				END {
					name = toupper(test); if (name == "MSET") name = "MSET (10 keys)"
					printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, pipe,
						r("direct"), r("twemproxy"), r("hotswap"), l("direct"), l("twemproxy"), l("hotswap"), c("hotswap"), c("twemproxy")
				}' "$MED"
		done
	done
	if has_target hotswap-nometrics || has_target hotswap-trace1; then
		echo
		echo "Telemetry cost: hotswap with \`--metrics=false\` (no per-command counters or histograms), with the"
		echo "defaults (metrics on, tracing off), and tracing $TRACE_SAMPLE of commands (\`--trace-sample $TRACE_SAMPLE\`, spans"
		echo "exported over OTLP/HTTP to a local sink). Throughput in requests/s, CPU in µs per command (medians):"
		echo
		echo "| test | P | no metrics rps | metrics rps | trace rps | no metrics µs CPU/cmd | metrics µs CPU/cmd | trace µs CPU/cmd | metrics − no metrics µs | trace − metrics µs |"
		echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
		for pipe in $PIPELINES; do
			for test in "${TEST_LIST[@]}"; do
				awk -F'\t' -v pipe="$pipe" -v test="$test" '
					$2 == pipe && $3 == test { rps[$1] = $5; cpu[$1] = $12 }
					function r(t) { return (t in rps) ? sprintf("%.0f", rps[t]) : "—" }
					function c(t) { return (t in rps) ? sprintf("%.2f", cpu[t]) : "—" }
					function d(a, b) { return (a in rps && b in rps) ? sprintf("%+.2f", cpu[a] - cpu[b]) : "—" }
					END {
						printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", toupper(test), pipe,
							r("hotswap-nometrics"), r("hotswap"), r("hotswap-trace1"),
							c("hotswap-nometrics"), c("hotswap"), c("hotswap-trace1"),
							d("hotswap", "hotswap-nometrics"), d("hotswap-trace1", "hotswap")
					}' "$MED"
			done
		done
	fi
	echo
	echo "Redis' own CPU per command (µs) by the path the commands took (a proxy that batches many"
	echo "clients onto few connections saves Redis syscalls), and commands Redis executed per request:"
	echo
	echo "| test | P | direct | twemproxy | hotswap | redis calls/request (direct, twemproxy, hotswap) |"
	echo "|---|--:|--:|--:|--:|--:|"
	for pipe in $PIPELINES; do
		for test in "${TEST_LIST[@]}"; do
			awk -F'\t' -v pipe="$pipe" -v test="$test" '
				$2 == pipe && $3 == test { have[$1] = 1; rc[$1] = $13; calls[$1] = $14 }
				function f(t) { return (t in have) ? sprintf("%.1f", rc[t]) : "—" }
				function g(t) { return (t in have) ? sprintf("%.2f", calls[t]) : "—" }
				END {
					printf "| %s | %s | %s | %s | %s | %s, %s, %s |\n", toupper(test), pipe, f("direct"), f("twemproxy"), f("hotswap"),
						g("direct"), g("twemproxy"), g("hotswap")
				}' "$MED"
		done
	done
	if [[ -s $IDLE_TSV ]]; then
		echo
		echo "Idle connections: RSS (VmRSS) of the process serving the clients (direct: redis-server itself)"
		echo "before $IDLE_CONNS clients connect, 1 s after each has sent one PING and got +PONG, and after"
		echo "holding them idle ${IDLE_HOLD} s. cold: fresh processes, before the throughput runs; warm: after"
		echo "them (buffer pools and heaps grown by traffic). KiB/connection = (held - before) / $IDLE_CONNS."
		echo
		echo "| phase | target | process | RSS before MiB | at 1 s MiB | held ${IDLE_HOLD} s MiB | growth MiB | KiB/connection |"
		echo "|---|---|---|--:|--:|--:|--:|--:|"
		awk -F'\t' -v n="$IDLE_CONNS" '{
			proc = ($2 == "direct") ? "redis-server" : ($2 == "twemproxy" ? "nutcracker" : "hotswap")
			if ($3 == "fail") { printf "| %s | %s | %s | failed | | | | |\n", $1, $2, proc; next }
			printf "| %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.2f |\n", $1, $2, proc, $3 / 1024, $4 / 1024, $5 / 1024, ($5 - $3) / 1024, ($5 - $3) / n
		}' "$IDLE_TSV"
	fi
	echo
	awk -F'\t' -v maxo="$MAX_OTHER_LOAD" '{ v[++n] = $15 + 0; w[n] = $16 + 0; if ($15 + 0 > maxo) hi++ }
	function sort(a, n,    i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x } }
	END {
		if (!n) exit
		sort(v, n); sort(w, n)
		printf "Other load during the runs (machine CPU used by processes other than the client and the servers): median %d%%, max %d%%; %d of %d runs above %d%%. Hypervisor steal: median %d%%, max %d%%.\n", v[int((n + 1) / 2)], v[n], hi, n, maxo, w[int((n + 1) / 2)], w[n]
		if (hi > n / 5) print "**Warning: the machine was busy with other work during many runs; the numbers are noisy.**"
	}' "$RAW"
	echo
	echo "Benchmark phase $((BENCH_END - BENCH_START)) s, whole script $(($(date +%s) - SCRIPT_START)) s, load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$OUT"

cat "$OUT"
# Keep the raw per-run numbers next to the report.
cp "$RAW" "${OUT%.md}.raw.tsv" 2>/dev/null || true
log "report written to $OUT (raw runs: ${OUT%.md}.raw.tsv)"
