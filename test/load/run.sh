#!/usr/bin/env bash
# Load test (issue 7): a user-registry workload (test/load/userload: mostly HGETALL/HGET of
# users, some HSET, email lookups, team membership) against redis-server directly and
# through hotswap with the user, user-teams and user-email families
# (deploy/examples/mapping.yaml) at the stages off, dualwrite, shadow and live, all on this
# machine (redis-server, dynalite). Between dualwrite and shadow it does what ops do:
# `hotswap backfill` of each family while the sidecar dual-writes, then `hotswap verify`.
#
#   test/load/run.sh                      # 20 s per target
#   DURATION=60s VUS=32 USERS=5000 test/load/run.sh
#   ADDR=host:port test/load/run.sh       # only the workload, against any endpoint: it WRITES
#                                         # user:{0..USERS-1}, email:user*@example.com and
#                                         # user:*:teams there first (PRELOAD=0: it does not)
#
# Progress goes to stderr; the markdown table to stdout and $OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
source "$ROOT/scripts/lib.sh"

DURATION=${DURATION:-20s}
VUS=${VUS:-16}
USERS=${USERS:-2000}
STAGES=${STAGES:-off dualwrite shadow live}
SHADOW_SAMPLE=${SHADOW_SAMPLE:-0.1}
MAX_ERROR_RATE=${MAX_ERROR_RATE:-0.001}
MAX_P99=${MAX_P99:-0} # e.g. 50ms; 0: no latency threshold (dynalite is no DynamoDB)
OUT=${OUT:-}
KEEP_WORK=${KEEP_WORK:-0}
ADDR=${ADDR:-}

need go

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hotswap-load.XXXXXX")
if [[ -z $OUT ]]; then OUT=$(mktemp "${TMPDIR:-/tmp}/hotswap-load.XXXXXX.md"); fi
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

tlog "building userload and hotswap"
(cd "$ROOT" && go build -o "$WORK/userload" ./test/load/userload) || die "building test/load/userload failed"
LOAD=(--max-error-rate "$MAX_ERROR_RATE" --max-p99 "$MAX_P99" --duration "$DURATION" --vus "$VUS" --users "$USERS")

if [[ -n $ADDR ]]; then # the workload only, against an endpoint someone else runs
	[[ ${PRELOAD:-1} == 0 ]] || "$WORK/userload" --addr "$ADDR" --users "$USERS" --preload
	"$WORK/userload" --addr "$ADDR" --label "$ADDR" "${LOAD[@]}"
	exit
fi

need redis-server "apt-get install -y redis-server"
need redis-cli "apt-get install -y redis-tools"
need curl
[[ -x $DYNALITE_CLI ]] || die "dynalite is not installed ($DYNALITE_CLI): run scripts/deps.sh dynalite"
export_fake_aws_env
(cd "$ROOT" && go build -ldflags "-X main.version=load-test" -o "$WORK/hotswap" ./cmd/hotswap) || die "building ./cmd/hotswap failed"
HS=$WORK/hotswap
MAPPING=$ROOT/deploy/examples/mapping.yaml

flag_file() { # stage: every family's flag at that stage
	local v='{"off": "off", "dualwrite": "dualwrite", "shadow": "shadow", "live": "live", "rampdown": "rampdown", "complete": "complete"}'
	cat >"$WORK/flags-$1.json" <<EOF2
{"flags": {
  "hotswap.user.stage": {"state": "ENABLED", "defaultVariant": "$1", "variants": $v},
  "hotswap.user-email.stage": {"state": "ENABLED", "defaultVariant": "$1", "variants": $v}}}
EOF2
	echo "$WORK/flags-$1.json"
}

tlog "starting dynalite"
start_dynalite $$
"$HS" table create --mapping "$MAPPING" --dynamodb-endpoint "$DYNALITE_ENDPOINT" --log-level warn || die "table create failed"

read -r REDIS_PORT HS_PORT HS_ADMIN_PORT <<<"$(free_ports 3)"
tlog "starting redis-server on 127.0.0.1:$REDIS_PORT"
bg_start redis $$ redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK" --maxmemory-policy noeviction
wait_ping "$REDIS_PORT" "$(bg_pid redis)" redis
"$WORK/userload" --addr "127.0.0.1:$REDIS_PORT" --users "$USERS" --preload

# applied: the fleet's applied revision is the one this instance loaded (the fence moved).
applied() {
	curl -fsS "http://127.0.0.1:$HS_ADMIN_PORT/status" | py -c '
import json, sys
f = json.load(sys.stdin).get("fleet") or {}
sys.exit(0 if f.get("loaded") and f.get("loaded") == f.get("applied") else 1)'
}
start_hotswap() { # stage
	bg_start hotswap $$ "$HS" serve --listen "127.0.0.1:$HS_PORT" --redis "redis://127.0.0.1:$REDIS_PORT" \
		--admin "127.0.0.1:$HS_ADMIN_PORT" --mapping "$MAPPING" --flags "$(flag_file "$1")" \
		--dynamodb-endpoint "$DYNALITE_ENDPOINT" --shadow-sample "$SHADOW_SAMPLE" --log-level warn
	wait_ping "$HS_PORT" "$(bg_pid hotswap)" hotswap
	local i
	for ((i = 0; i < 600; i++)); do
		curl -fsS "http://127.0.0.1:$HS_ADMIN_PORT/readyz" >/dev/null 2>&1 && applied 2>/dev/null && return 0
		sleep 0.1
	done
	bg_log_tail hotswap
	die "hotswap not ready (or the fleet's revision not applied) at stage $1 after 60s"
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
FAILED=()
runload() { # label addr
	tlog "load: $1 for $DURATION, $VUS VUs"
	"$WORK/userload" --addr "$2" --label "$1" "${LOAD[@]}" >>"$RESULTS" || FAILED+=("$1")
}

runload "redis (direct)" "127.0.0.1:$REDIS_PORT"
for stage in $STAGES; do
	start_hotswap "$stage"
	runload "hotswap $stage" "127.0.0.1:$HS_PORT"
	if [[ $stage == dualwrite ]]; then
		# The fleet (this one sidecar) dual-writes every family: copy what Redis holds.
		for fam in user user-teams user-email; do
			tlog "backfill $fam"
			"$HS" backfill --mapping "$MAPPING" --family "$fam" --flags "$WORK/flags-dualwrite.json" \
				--redis "redis://127.0.0.1:$REDIS_PORT" --dynamodb-endpoint "$DYNALITE_ENDPOINT" \
				--rate 0 --log-level warn --unmigratable "$WORK/unmigratable-$fam.txt" 2>&1 | grep -v '^{"level"' | tail -n 4 >&2 ||
				die "backfill $fam failed"
		done
		tlog "verify user"
		"$HS" verify --mapping "$MAPPING" --family user --flags "$WORK/flags-dualwrite.json" \
			--redis "redis://127.0.0.1:$REDIS_PORT" --dynamodb-endpoint "$DYNALITE_ENDPOINT" --log-level warn 2>&1 | grep -v '^{"level"' | tail -n 12 >&2 ||
			warn "verify found differences (writes in flight are re-checked; see above)"
	fi
	bg_stop hotswap
done

{
	echo "### Load test: user-registry workload, $DURATION per target"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- test/load/userload: $VUS connections back to back, $USERS users preloaded; 45% HGETALL, 20% HGET, 12% GET email:…, 8% SISMEMBER, 5% SMEMBERS, 10% HSET"
	echo "- hotswap: deploy/examples/mapping.yaml on dynalite, every family at the stage shown, --shadow-sample $SHADOW_SAMPLE; backfill + verify after the dualwrite run"
	echo
	echo "| target | commands/s | p50 ms | p95 ms | p99 ms | errors | misses |"
	echo "|---|--:|--:|--:|--:|--:|--:|"
	py - "$RESULTS" <<'EOF2'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"| {r['label']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | {r['misses']} |")
EOF2
} | tee "$OUT"
tlog "report written to $OUT"
if ((${#FAILED[@]})); then
	die "thresholds crossed: ${FAILED[*]} (see the lines above)"
fi
