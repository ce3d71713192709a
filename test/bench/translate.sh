#!/usr/bin/env bash
# Translated-commands benchmark: GET / HGETALL / SET / HSET / SADD on keys of DynamoDB
# key families, through hotswap (redis-benchmark as the client) versus the same DynamoDB
# calls made directly with the AWS SDK (test/bench/ddbdirect), against one dynalite.
# See README.md.
#
# Every server runs on a loopback port the kernel hands out and is stopped when the script
# exits (scripts/lib.sh starts them, each with a watchdog in case the script is killed).
# Progress goes to stderr, the report to stdout, and the markdown report also to $OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
source "$ROOT/scripts/lib.sh"

REPS=${REPS:-3}
N=${N:-10000}
KEYSPACE=${KEYSPACE:-10000}
CLIENTS=${CLIENTS:-16}
DATASIZE=${DATASIZE:-100}
TESTS=${TESTS:-set,hset,sadd,get,hgetall}
TARGETS=${TARGETS:-direct hotswap}
# ddbdirect's GOMAXPROCS: 1, as hotswap's --procs default, so CPU per call compares like with
# like (with 2, the same calls took ~20% more CPU on the reference machine); 0: Go's default.
DIRECT_PROCS=${DIRECT_PROCS:-1}
PRELOAD=${PRELOAD:-1}
HOTSWAP_BIN=${HOTSWAP_BIN:-}
HOTSWAP_ARGS=${HOTSWAP_ARGS:-}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-600}
MAX_OTHER_LOAD=${MAX_OTHER_LOAD:-20}
KEEP_WORK=${KEEP_WORK:-0}
OUT=${OUT:-}


for t in $TARGETS; do
	case $t in direct | hotswap) ;; *) die "unknown target '$t' in TARGETS (want direct, hotswap)" ;; esac
done
IFS=, read -r -a TEST_LIST <<<"$TESTS"
for t in "${TEST_LIST[@]}"; do
	case $t in get | hgetall | set | hset | sadd) ;; *) die "unknown test '$t' in TESTS (want get, hgetall, set, hset, sadd)" ;; esac
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer"
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer"
[[ $KEYSPACE =~ ^[1-9][0-9]*$ ]] || die "KEYSPACE must be a positive integer"
[[ $CLIENTS =~ ^[1-9][0-9]*$ ]] || die "CLIENTS must be a positive integer"
[[ $DATASIZE =~ ^[1-9][0-9]*$ ]] || die "DATASIZE must be a positive integer"
[[ $DIRECT_PROCS =~ ^[0-9]+$ ]] || die "DIRECT_PROCS must be a non-negative integer"

need redis-server "apt-get install -y redis-server"
need redis-cli "apt-get install -y redis-tools"
need redis-benchmark "apt-get install -y redis-tools"
need go
need timeout
[[ -x $DYNALITE_CLI ]] || die "dynalite is not installed ($DYNALITE_CLI): run scripts/deps.sh dynalite"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hotswap-bench-translate.XXXXXX")
if [[ -z $OUT ]]; then OUT=$(mktemp "${TMPDIR:-/tmp}/hotswap-translate.XXXXXX.md"); fi
HOTSWAP_STACK_DIR=$WORK/stack
stack_init
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stack_stop_all 2>/dev/null || true
	if [[ $KEEP_WORK == 1 || $rc != 0 ]]; then tlog "logs and raw data kept in $WORK"; else rm -rf "$WORK"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
SCRIPT_START=$(date +%s)
# Local servers only: dummy credentials, no metadata service, no shared config.
export_fake_aws_env

# --- build --------------------------------------------------------------------------
tlog "building ddbdirect in $WORK"
(cd "$ROOT" && go build -o "$WORK/ddbdirect" ./test/bench/ddbdirect) || die "building test/bench/ddbdirect failed"
if [[ -z $HOTSWAP_BIN ]]; then
	tlog "building hotswap (go build ./cmd/hotswap)"
	if ! (cd "$ROOT" && go build -o "$WORK/hotswap" ./cmd/hotswap) >"$WORK/hotswap-build.log" 2>&1; then
		cat "$WORK/hotswap-build.log" >&2
		die "building ./cmd/hotswap failed; fix it, or pass HOTSWAP_BIN"
	fi
	HOTSWAP_BIN=$WORK/hotswap
fi

# --- servers ------------------------------------------------------------------------
# The families the run uses; translate/bench_test.go (the in-process benchmark) declares the same.
MAPPING=$WORK/mapping.yaml
cat >"$MAPPING" <<'EOF'
table: hotswap-bench
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
    floor: complete
  - name: str
    match: "str:{id}"
    type: string
    pk: "str#{id}"
    sk: "value"
    floor: complete
  - name: team
    match: "team:{id}"
    type: set
    pk: "team#{id}"
    sk: "members"
    floor: complete
EOF

tlog "starting dynalite (${HOTSWAP_DYNALITE_ARGS:-$DYNALITE_DEFAULT_ARGS})"
start_dynalite $$
DDB_PID=$(bg_pid dynalite)

if "$HOTSWAP_BIN" table create --help >/dev/null 2>&1; then
	tlog "creating the table: hotswap table create"
	"$HOTSWAP_BIN" table create --mapping "$MAPPING" --dynamodb-endpoint "$DYNALITE_ENDPOINT" --log-level warn ||
		die "hotswap table create failed"
else
	tlog "creating the table: ddbdirect -create (this hotswap has no 'table create')"
	"$WORK/ddbdirect" -endpoint "$DYNALITE_ENDPOINT" -mapping "$MAPPING" -create || die "ddbdirect -create failed"
fi

read -r REDIS_PORT HS_PORT HS_ADMIN_PORT <<<"$(free_ports 3)"
# hotswap needs a Redis for the keys outside the families (and for redis-benchmark's own
# CONFIG GET at start); no family key reaches it.
tlog "starting redis-server on 127.0.0.1:$REDIS_PORT"
bg_start redis $$ redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK"
REDIS_PID=$(bg_pid redis)
wait_ping "$REDIS_PORT" "$REDIS_PID" redis

tlog "starting hotswap on 127.0.0.1:$HS_PORT (admin $HS_ADMIN_PORT)"
# shellcheck disable=SC2086 # HOTSWAP_ARGS is a list of words
bg_start hotswap $$ "$HOTSWAP_BIN" serve --listen "127.0.0.1:$HS_PORT" --redis "redis://127.0.0.1:$REDIS_PORT" \
	--admin "127.0.0.1:$HS_ADMIN_PORT" --mapping "$MAPPING" --dynamodb-endpoint "$DYNALITE_ENDPOINT" $HOTSWAP_ARGS
HS_PID=$(bg_pid hotswap)
wait_ping "$HS_PORT" "$HS_PID" hotswap
hcli() { redis-cli -h 127.0.0.1 -p "$HS_PORT" "$@"; }

# hs_counters: "commands calls get_item put_item update_item other" from hotswap's /status
# (the engine's counters: translate/counting.go).
hs_counters() {
	py - "http://127.0.0.1:$HS_ADMIN_PORT/status" <<'EOF'
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(sys.argv[1], timeout=5)).get("dynamodb") or {}
c = d.get("calls") or {}
total = sum(v for v in c.values() if isinstance(v, int))
print(d.get("commands", 0), total, c.get("get_item", 0), c.get("put_item", 0), c.get("update_item", 0),
      total - c.get("get_item", 0) - c.get("put_item", 0) - c.get("update_item", 0))
EOF
}
hs_counters >/dev/null || die "hotswap's /status on 127.0.0.1:$HS_ADMIN_PORT does not answer with engine counters"

VALUE=$(printf '%*s' "$DATASIZE" '' | tr ' ' x)
KEY0=$(printf '%012d' 0)
if ((PRELOAD)); then
	tlog "preloading keys 0..$((KEYSPACE - 1)) of str, user and team (ddbdirect -preload: hotswap's write calls)"
	"$WORK/ddbdirect" -endpoint "$DYNALITE_ENDPOINT" -mapping "$MAPPING" -preload -c "$CLIENTS" -r "$KEYSPACE" -d "$DATASIZE" ||
		die "ddbdirect -preload failed"
	# What ddbdirect wrote must read back through hotswap: otherwise the two sides do not
	# make the same calls (the item layout of ddbdirect drifted from translate/fast.go).
	got=$(hcli GET "str:$KEY0")
	[[ $got == "$VALUE" ]] || die "GET str:$KEY0 through hotswap after the preload: got '${got:0:60}', want the $DATASIZE-byte value"
	got=$(hcli HGET "user:$KEY0" name)
	[[ $got == "$VALUE" ]] || die "HGET user:$KEY0 name through hotswap after the preload: got '${got:0:60}'"
	got=$(hcli SCARD "team:$KEY0")
	[[ $got =~ ^[1-9] ]] || die "SCARD team:$KEY0 through hotswap after the preload: got '$got'"
fi

# --- measurement helpers ----------------------------------------------------------------
# cpu_ticks (scripts/lib.sh): utime+stime of a whole process, in clock ticks.
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)
# Ticks the whole machine spent in processes (user nice system); irq/softirq time is
# charged to no process, so it is left out of both sides (as in passthrough.sh).
machine_busy() { awk '/^cpu / { print $2 + $3 + $4 }' /proc/stat; }
# CPU of this script's finished children (redis-benchmark, ddbdirect, ...): cutime+cstime.
SCRIPT_PID=$$
children_ticks() { awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$SCRIPT_PID/stat"; }
servers_ticks() {
	local pid t=0
	for pid in "$REDIS_PID" "$HS_PID" "$DDB_PID"; do t=$((t + $(cpu_ticks "$pid" 2>/dev/null || echo 0))); done
	echo "$t"
}

bench_args() { # TEST: the command redis-benchmark sends
	case $1 in
	get) echo "GET str:__rand_int__" ;;
	set) echo "SET str:__rand_int__ $VALUE" ;;
	hgetall) echo "HGETALL user:__rand_int__" ;;
	hset) echo "HSET user:__rand_int__ name $VALUE" ;;
	sadd) echo "SADD team:__rand_int__ m__rand_int__" ;;
	esac
}

CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
DYNALITE_VERSION=$(awk -F'"' '/"version"/ { print $4; exit }' "$DYNALITE_DIR/node_modules/dynalite/package.json" 2>/dev/null || echo "?")
INFO=$(
	cat <<EOF
- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)
- machine: $NCPU CPUs ($CPU_MODEL), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)
- dynalite $DYNALITE_VERSION (node $(node --version 2>/dev/null || echo ?); ${HOTSWAP_DYNALITE_ARGS:-$DYNALITE_DEFAULT_ARGS}), $(redis-benchmark --version 2>/dev/null | head -1), $(go version | awk '{ print $3 }')
- script: \`REPS=$REPS N=$N KEYSPACE=$KEYSPACE CLIENTS=$CLIENTS DATASIZE=$DATASIZE TESTS=$TESTS test/bench/translate.sh\`
- hotswap: \`hotswap serve --mapping … --dynamodb-endpoint … $HOTSWAP_ARGS\` (defaults otherwise); keys 0..$((KEYSPACE - 1)) of each family preloaded: $( ((PRELOAD)) && echo yes || echo no)
- hotswap cell: \`redis-benchmark -c $CLIENTS -n $N -r $KEYSPACE --csv COMMAND\`; direct cell: \`ddbdirect -op TEST -procs $DIRECT_PROCS -c $CLIENTS -n $N -r $KEYSPACE -d $DATASIZE\`; median of $REPS interleaved repetitions (direct, hotswap, direct, …)
EOF
)

# --- runs -------------------------------------------------------------------------------
# raw.tsv: target rep test rps p50 p99 cpu_us_per_cmd ddb_calls_per_cmd dynalite_cpu_us_per_cmd
# other_load_pct calls_breakdown
RAW=$WORK/raw.tsv
: >"$RAW"
NTARGETS=$(wc -w <<<"$TARGETS")
TOTAL_RUNS=$((REPS * NTARGETS * ${#TEST_LIST[@]}))
RUN=0
BENCH_START=$(date +%s)

# bench_once TARGET REP TEST: one run, appended to raw.tsv. Returns 1 if it failed.
bench_once() {
	local target=$1 rep=$2 test=$3
	local p0 p1 d0 d1 m0 m1 s0 s1 c0 c1 t0 t1 rc=0 other line rps p50 p99 cpu calls breakdown
	local h0 h1 _name _avg _min _p95 _max
	local -a cmd a b
	p0=$(cpu_ticks "$HS_PID") d0=$(cpu_ticks "$DDB_PID")
	h0=$(hs_counters)
	m0=$(machine_busy) s0=$(servers_ticks) c0=$(children_ticks) t0=$(date +%s%N)
	if [[ $target == direct ]]; then
		timeout "$BENCH_TIMEOUT" "$WORK/ddbdirect" -endpoint "$DYNALITE_ENDPOINT" -mapping "$MAPPING" -op "$test" -procs "$DIRECT_PROCS" \
			-c "$CLIENTS" -n "$N" -r "$KEYSPACE" -d "$DATASIZE" >"$WORK/bench.out" 2>"$WORK/bench.err" || rc=$?
	else
		read -r -a cmd <<<"$(bench_args "$test")"
		timeout "$BENCH_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$HS_PORT" -c "$CLIENTS" -n "$N" -r "$KEYSPACE" \
			-d "$DATASIZE" --csv "${cmd[@]}" >"$WORK/bench.out" 2>"$WORK/bench.err" || rc=$?
	fi
	t1=$(date +%s%N) c1=$(children_ticks) s1=$(servers_ticks) m1=$(machine_busy)
	h1=$(hs_counters)
	p1=$(cpu_ticks "$HS_PID") d1=$(cpu_ticks "$DDB_PID")
	# Share of the machine's CPU used by processes other than the client and the servers
	# (builds, tests, other benchmarks), in % of the run's wall time on all CPUs.
	other=$(awk -v b="$((m1 - m0 - (s1 - s0) - (c1 - c0)))" -v ns="$((t1 - t0))" -v hz="$CLK_TCK" -v n="$NCPU" \
		'BEGIN { f = b / (ns / 1e9 * hz * n / 100); printf "%.0f", f < 0 ? 0 : f }')
	if [[ $target == direct ]]; then
		line=$(awk 'NF == 4 { print; exit }' "$WORK/bench.out")
		if ((rc != 0)) || [[ -z $line ]]; then
			tlog "  FAILED (exit $rc): $(head -c 400 "$WORK/bench.err" | tr '\n' ' ')"
			return 1
		fi
		read -r rps p50 p99 cpu <<<"$line"
		# ddbdirect makes exactly one call per request, by construction.
		calls=1 breakdown=direct
	else
		line=$(awk -F'","' 'NR > 1 && NF >= 8 { x = $2 " " $5 " " $7; gsub(/"/, "", x); print x; exit }' "$WORK/bench.out")
		if ((rc != 0)) || [[ -z $line ]] || grep -qi 'error' "$WORK/bench.err" "$WORK/bench.out"; then
			tlog "  FAILED (exit $rc): $(head -c 300 "$WORK/bench.err" | tr '\n' ' ') $(head -c 300 "$WORK/bench.out" | tr '\n' ' ')"
			proc_alive "$HS_PID" || { bg_log_tail hotswap; die "hotswap is no longer running"; }
			return 1
		fi
		read -r rps p50 p99 <<<"$line"
		cpu=$(awk -v d="$((p1 - p0))" -v hz="$CLK_TCK" -v n="$N" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
		read -r -a a <<<"$h0"
		read -r -a b <<<"$h1"
		local ncmd=$((b[0] - a[0]))
		((ncmd == N)) || tlog "  warning: hotswap's engine ran $ncmd commands for $N requests"
		calls=$(awk -v c="$((b[1] - a[1]))" -v n="$ncmd" 'BEGIN { printf "%.3f", n ? c / n : 0 }')
		breakdown=$(awk -v g="$((b[2] - a[2]))" -v p="$((b[3] - a[3]))" -v u="$((b[4] - a[4]))" -v o="$((b[5] - a[5]))" -v n="$ncmd" \
			'BEGIN { if (!n) n = 1; printf "get=%.2f,put=%.2f,update=%.2f,other=%.2f", g / n, p / n, u / n, o / n }')
	fi
	awk -v t="$target" -v rep="$rep" -v test="$test" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v cpu="$cpu" \
		-v calls="$calls" -v dd="$((d1 - d0))" -v hz="$CLK_TCK" -v n="$N" -v other="$other" -v bd="$breakdown" 'BEGIN {
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t%s\n", t, rep, test, rps, p50, p99, cpu, calls, dd / hz * 1e6 / n, other, bd
	}' >>"$RAW"
	tail -1 "$RAW" | awk -F'\t' '{ printf "  %s rps, p50 %s ms, p99 %s ms, %s us CPU/cmd, %s DynamoDB calls/cmd (%s), dynalite %s us CPU/cmd, other load %s%%\n", $4, $5, $6, $7, $8, $11, $9, $10 }' >&2
	return 0
}

for ((rep = 1; rep <= REPS; rep++)); do
	for test in "${TEST_LIST[@]}"; do
		for target in $TARGETS; do
			RUN=$((RUN + 1))
			elapsed=$(($(date +%s) - BENCH_START))
			eta=""
			((RUN > 1 && elapsed > 0)) && eta=", ~$((elapsed * (TOTAL_RUNS - RUN + 1) / (RUN - 1)))s left"
			tlog "run $RUN/$TOTAL_RUNS: rep $rep, $test, $target$eta"
			bench_once "$target" "$rep" "$test" || true
		done
	done
done
BENCH_END=$(date +%s)

# --- report -----------------------------------------------------------------------------
# Medians per (target, test) of the numeric columns; a cell whose runs had a median other
# load above MAX_OTHER_LOAD is marked †.
MED=$WORK/median.tsv
awk -F'\t' '
function median(s,    a, n, i, j, x) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++) a[i] += 0
	for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
	if (n % 2) return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	k = $1 SUBSEP $3
	if (!(k in cnt)) order[++nk] = k
	cnt[k]++
	for (c = 4; c <= 10; c++) v[k, c] = v[k, c] " " $c
}
END {
	for (i = 1; i <= nk; i++) {
		k = order[i]; split(k, p, SUBSEP)
		printf "%s\t%s\t%d", p[1], p[2], cnt[k]
		for (c = 4; c <= 10; c++) printf "\t%s", median(v[k, c])
		printf "\n"
	}
}' "$RAW" >"$MED"
# median.tsv: target test runs rps p50 p99 cpu calls dynalite_cpu other

{
	echo "## hotswap translated-commands benchmark"
	echo
	echo "$INFO"
	echo
	echo "Throughput in requests/s (hotswap/direct ratio), latency p50/p99 in ms as the client sees it,"
	echo "DynamoDB calls per command (hotswap: the engine's counters from /status; direct: one by"
	echo "construction), CPU in µs of user+system time per command (hotswap: the whole process, from"
	echo "/proc; direct: ddbdirect's own, client and SDK together) and dynalite's CPU per command."
	echo "Medians over $REPS interleaved repetitions; † marks a cell whose runs had more than"
	echo "$MAX_OTHER_LOAD% of the machine taken by other processes (median)."
	echo
	echo "| command | direct rps | hotswap rps (ratio) | direct p50/p99 | hotswap p50/p99 | DynamoDB calls/cmd | hotswap µs CPU/cmd | direct µs CPU/call | dynalite µs CPU/cmd (direct, hotswap) |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
	for test in "${TEST_LIST[@]}"; do
		awk -F'\t' -v test="$test" -v maxo="$MAX_OTHER_LOAD" -v value="$DATASIZE" '
			$2 == test { have[$1] = 1; rps[$1] = $4; p50[$1] = $5; p99[$1] = $6; cpu[$1] = $7; calls[$1] = $8; dcpu[$1] = $9; busy[$1] = ($10 + 0 > maxo) ? " †" : "" }
			function l(t) { return (t in have) ? sprintf("%.3f / %.3f", p50[t], p99[t]) : "—" }
			END {
				name = toupper(test)
				if (test == "set") name = "SET str (" value " B)"
				else if (test == "get") name = "GET str"
				else if (test == "hset") name = "HSET user name (" value " B)"
				else if (test == "hgetall") name = "HGETALL user (1 field)"
				else if (test == "sadd") name = "SADD team"
				d = ("direct" in have) ? sprintf("%.0f%s", rps["direct"], busy["direct"]) : "—"
				h = "—"
				if ("hotswap" in have) {
					h = sprintf("%.0f", rps["hotswap"])
					if ("direct" in have && rps["direct"] > 0) h = h sprintf(" (%.2fx)", rps["hotswap"] / rps["direct"])
					h = h busy["hotswap"]
				}
				printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s, %s |\n", name, d, h, l("direct"), l("hotswap"),
					("hotswap" in have) ? sprintf("%.2f", calls["hotswap"]) : "—",
					("hotswap" in have) ? sprintf("%.1f", cpu["hotswap"]) : "—",
					("direct" in have) ? sprintf("%.1f", cpu["direct"]) : "—",
					("direct" in have) ? sprintf("%.1f", dcpu["direct"]) : "—",
					("hotswap" in have) ? sprintf("%.1f", dcpu["hotswap"]) : "—"
			}' "$MED"
	done
	echo
	echo "Against the targets (hotswap rps ≥ 0.9x direct; 1 DynamoDB call per single-key command;"
	echo "≤ 30 µs of hotswap CPU per command):"
	echo
	awk -F'\t' '
		{ have[$1, $2] = 1; rps[$1, $2] = $4; cpu[$1, $2] = $7; calls[$1, $2] = $8; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
		END {
			for (i = 1; i <= n; i++) {
				t = order[i]
				if (!(("hotswap", t) in have)) continue
				r = (("direct", t) in have && rps["direct", t] > 0) ? rps["hotswap", t] / rps["direct", t] : -1
				own = (("direct", t) in have) ? sprintf(" (the SDK call alone, in ddbdirect: %.1f µs)", cpu["direct", t]) : ""
				printf "- %s: ratio %s, calls/cmd %.2f %s, CPU %.1f µs %s%s\n", toupper(t),
					r < 0 ? "— (no direct run)" : sprintf("%.2fx %s", r, r >= 0.9 ? "(met)" : "(**not met**)"),
					calls["hotswap", t], (calls["hotswap", t] + 0 <= 1.0005) ? "(met)" : "(**not met**)",
					cpu["hotswap", t], (cpu["hotswap", t] + 0 <= 30) ? "(met)" : "(**not met**)", own
			}
		}' "$MED"
	echo
	awk -F'\t' -v maxo="$MAX_OTHER_LOAD" '{ v[++n] = $10 + 0; if ($10 + 0 > maxo) hi++ }
	END {
		if (!n) exit
		for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
		printf "Other load during the runs (machine CPU used by processes other than the client, hotswap, redis and dynalite): median %d%%, max %d%%; %d of %d runs above %d%%.\n", v[int((n + 1) / 2)], v[n], hi, n, maxo
		if (hi > n / 5) print "**Warning: the machine was busy with other work during many runs; the numbers are noisy.**"
	}' "$RAW"
	echo
	echo "Benchmark phase $((BENCH_END - BENCH_START)) s, whole script $(($(date +%s) - SCRIPT_START)) s, load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$OUT"

cat "$OUT"
cp "$RAW" "${OUT%.md}.raw.tsv" 2>/dev/null || true
tlog "report written to $OUT (raw runs: ${OUT%.md}.raw.tsv)"
