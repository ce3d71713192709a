#!/usr/bin/env bash
# Stage benchmark (issue 4): HSET and HGET on family keys (user:__rand_int__) through
# hotswap with the family at each migration stage, next to plain pass-through (hotswap
# with no mapping) on the same keys, all against one redis-server and one dynalite.
# redis-benchmark is the client. Per (stage, command) it reports requests/s, p50 and p99
# latency and hotswap's CPU µs per command, the median of REPS runs.
#
# The CPU of a run is hotswap's utime+stime from the benchmark's start until the copies
# it caused are done (dualwrite, shadow, live: the sync journal is empty and no copy is
# queued), so the background copies are charged to the commands that caused them.
# Progress goes to stderr, the markdown report to stdout and to $OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
source "$ROOT/scripts/lib.sh"

REPS=${REPS:-3}
N=${N:-50000}             # commands per run for passthrough and off
N_DUAL=${N_DUAL:-20000}   # dualwrite, shadow: every write is copied to dynalite (~1-2k writes/s)
N_LIVE=${N_LIVE:-5000}    # live: every command runs on dynalite
KEYSPACE=${KEYSPACE:-20000}
CLIENTS=${CLIENTS:-50}
DATASIZE=${DATASIZE:-100}
STAGES=${STAGES:-passthrough off dualwrite shadow live}
SHADOW_SAMPLE=${SHADOW_SAMPLE:-0.01}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-300}
HOTSWAP_BIN=${HOTSWAP_BIN:-}
OUT=${OUT:-}
KEEP_WORK=${KEEP_WORK:-0}

for s in $STAGES; do
	case $s in passthrough | off | dualwrite | shadow | live) ;; *) die "unknown stage '$s' in STAGES" ;; esac
done
need redis-server "apt-get install -y redis-server"
need redis-cli "apt-get install -y redis-tools"
need redis-benchmark "apt-get install -y redis-tools"
need go
[[ -x $DYNALITE_CLI ]] || die "dynalite is not installed ($DYNALITE_CLI): run scripts/deps.sh dynalite"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hotswap-bench-stages.XXXXXX")
if [[ -z $OUT ]]; then OUT=$(mktemp "${TMPDIR:-/tmp}/hotswap-stages.XXXXXX.md"); fi
HOTSWAP_STACK_DIR=$WORK/stack
stack_init
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stack_stop_all 2>/dev/null || true
	if [[ $KEEP_WORK == 1 || $rc != 0 ]]; then tlog "logs kept in $WORK"; else rm -rf "$WORK"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export_fake_aws_env

if [[ -z $HOTSWAP_BIN ]]; then
	tlog "building hotswap"
	(cd "$ROOT" && go build -o "$WORK/hotswap" ./cmd/hotswap) || die "building ./cmd/hotswap failed"
	HOTSWAP_BIN=$WORK/hotswap
fi

MAPPING=$WORK/mapping.yaml
cat >"$MAPPING" <<'EOF'
table: hotswap-bench-stages
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
EOF
flag_file() { # stage
	cat >"$WORK/flags-$1.json" <<EOF
{"flags": {"hotswap.user.stage": {"state": "ENABLED", "defaultVariant": "$1",
  "variants": {"off": "off", "dualwrite": "dualwrite", "shadow": "shadow", "live": "live", "rampdown": "rampdown", "complete": "complete"}}}}
EOF
	echo "$WORK/flags-$1.json"
}

tlog "starting dynalite"
start_dynalite $$
"$HOTSWAP_BIN" table create --mapping "$MAPPING" --dynamodb-endpoint "$DYNALITE_ENDPOINT" --log-level warn || die "table create failed"

read -r REDIS_PORT HS_PORT HS_ADMIN_PORT <<<"$(free_ports 3)"
tlog "starting redis-server on 127.0.0.1:$REDIS_PORT"
bg_start redis $$ redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK"
wait_ping "$REDIS_PORT" "$(bg_pid redis)" redis

CLK_TCK=$(getconf CLK_TCK)

# pending: copies not yet made (journal entries in Redis + copies queued in hotswap).
pending() {
	local j
	j=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" HLEN hotswap:journal)
	py - "http://127.0.0.1:$HS_ADMIN_PORT/status" "$j" <<'EOF'
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(sys.argv[1], timeout=5)).get("sync") or {}
done = d.get("applied", 0) + d.get("superseded", 0) + d.get("failed", 0) + d.get("coalesced", 0)
print(int(sys.argv[2]) + max(d.get("queued", 0) - done, 0))
EOF
}

start_hotswap() { # stage
	local -a args=(serve --listen "127.0.0.1:$HS_PORT" --redis "redis://127.0.0.1:$REDIS_PORT" --admin "127.0.0.1:$HS_ADMIN_PORT" --log-level warn)
	if [[ $1 != passthrough ]]; then
		args+=(--mapping "$MAPPING" --flags "$(flag_file "$1")" --dynamodb-endpoint "$DYNALITE_ENDPOINT" --shadow-sample "$SHADOW_SAMPLE")
	fi
	bg_start hotswap $$ "$HOTSWAP_BIN" "${args[@]}"
	wait_ping "$HS_PORT" "$(bg_pid hotswap)" hotswap
	if [[ $1 != passthrough ]]; then # serving family keys: flags and fleet registry read
		local i
		for ((i = 0; i < 200; i++)); do
			curl -fsS "http://127.0.0.1:$HS_ADMIN_PORT/readyz" >/dev/null 2>&1 && return 0
			sleep 0.05
		done
		die "hotswap not ready at stage $1"
	fi
}

VALUE=$(printf '%*s' "$DATASIZE" '' | tr ' ' x)
RAW=$WORK/raw.tsv
: >"$RAW"
for stage in $STAGES; do
	n=$N
	case $stage in dualwrite | shadow) n=$N_DUAL ;; live) n=$N_LIVE ;; esac
	for ((rep = 1; rep <= REPS; rep++)); do
		redis-cli -h 127.0.0.1 -p "$REDIS_PORT" FLUSHALL >/dev/null
		start_hotswap "$stage"
		pid=$(bg_pid hotswap)
		for cmd in HSET HGET; do
			args=("$cmd" "user:__rand_int__" name)
			[[ $cmd == HSET ]] && args+=("$VALUE")
			c0=$(cpu_ticks "$pid")
			redis-benchmark -h 127.0.0.1 -p "$HS_PORT" -c "$CLIENTS" -n "$n" -r "$KEYSPACE" --csv "${args[@]}" >"$WORK/bench.out" 2>"$WORK/bench.err" ||
				{ cat "$WORK/bench.err" >&2; die "redis-benchmark failed ($stage $cmd)"; }
			if [[ $stage != passthrough && $stage != off ]]; then
				t0=$(date +%s)
				while (($(pending) > 0)); do
					(($(date +%s) - t0 < DRAIN_TIMEOUT)) || die "copies not drained after ${DRAIN_TIMEOUT}s ($stage $cmd)"
					sleep 0.2
				done
			fi
			c1=$(cpu_ticks "$pid")
			# CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
			row=$(tail -n 1 "$WORK/bench.out" | tr -d '"')
			IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"$row"
			us=$(awk -v t="$((c1 - c0))" -v hz="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$stage" "$cmd" "$rep" "$rps" "$p50" "$p99" "$us" >>"$RAW"
			tlog "$stage $cmd rep $rep: $rps rps, p50 $p50 ms, p99 $p99 ms, hotswap $us µs CPU/command"
		done
		bg_stop hotswap
	done
done

{
	echo "### Stages: HSET / HGET on family keys (median of $REPS runs)"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- redis-benchmark -c $CLIENTS -r $KEYSPACE, values $DATASIZE bytes; N: $N (passthrough, off), $N_DUAL (dualwrite, shadow), $N_LIVE (live); shadow sample $SHADOW_SAMPLE"
	echo "- CPU: hotswap's, from the run's start until its copies are done, per command"
	echo
	echo "| stage | command | requests/s | p50 ms | p99 ms | hotswap CPU µs/cmd |"
	echo "|---|---|--:|--:|--:|--:|"
	for stage in $STAGES; do
		for cmd in HSET HGET; do
			awk -F'\t' -v s="$stage" -v c="$cmd" '$1 == s && $2 == c' "$RAW" | sort -t$'\t' -k4,4g |
				awk -F'\t' '{ r[NR] = $0 } END { if (NR == 0) exit; split(r[int((NR + 1) / 2)], f, "\t");
					printf "| %s | %s | %.0f | %s | %s | %s |\n", f[1], f[2], f[4], f[5], f[6], f[7] }'
		done
	done
} | tee "$OUT"
tlog "report written to $OUT"
