#!/usr/bin/env bash
# Backfill benchmark: `hotswap backfill` copying N small hashes from Redis to dynalite,
# against the ceiling of a plain Go program making the same conditional PutItems with
# the same concurrency (test/bench/backfilldirect), plus `hotswap verify`. Run at N/10
# and at N keys, so the peak RSS of the two can be compared (it should not grow with
# the data set: the walk holds a few pages, never the key set). See README.md.
#
# Every server runs on a loopback port the kernel hands out and is stopped when the script
# exits. Progress goes to stderr, the report to stdout, and the markdown report also to $OUT.
#
#   N=1000000 CONCURRENCY=16 test/bench/backfill.sh      (make bench-backfill)
#   N=20000 test/bench/backfill.sh                          (a quick check that it works)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
source "$ROOT/scripts/lib.sh"

N=${N:-1000000}
SMALL=${SMALL:-$((N / 10))}
CONCURRENCY=${CONCURRENCY:-16}
SCAN_COUNT=${SCAN_COUNT:-500}
HOTSWAP_BIN=${HOTSWAP_BIN:-}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-3600}
KEEP_WORK=${KEEP_WORK:-0}
OUT=${OUT:-}


[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer"
[[ $SMALL =~ ^[1-9][0-9]*$ ]] || die "SMALL must be a positive integer"
[[ $CONCURRENCY =~ ^[1-9][0-9]*$ ]] || die "CONCURRENCY must be a positive integer"
need redis-server "apt-get install -y redis-server"
need redis-cli "apt-get install -y redis-tools"
need go
need timeout
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install -y time)"
[[ -x $DYNALITE_CLI ]] || die "dynalite is not installed ($DYNALITE_CLI): run scripts/deps.sh dynalite"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hotswap-bench-backfill.XXXXXX")
if [[ -z $OUT ]]; then OUT=$(mktemp "${TMPDIR:-/tmp}/hotswap-backfill.XXXXXX.md"); fi
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
export_fake_aws_env

# --- build --------------------------------------------------------------------------
tlog "building backfilldirect in $WORK"
(cd "$ROOT" && go build -o "$WORK/backfilldirect" ./test/bench/backfilldirect) || die "building test/bench/backfilldirect failed"
if [[ -z $HOTSWAP_BIN ]]; then
	tlog "building hotswap (go build ./cmd/hotswap)"
	(cd "$ROOT" && go build -o "$WORK/hotswap" ./cmd/hotswap) >"$WORK/hotswap-build.log" 2>&1 ||
		{ cat "$WORK/hotswap-build.log" >&2; die "building ./cmd/hotswap failed; fix it, or pass HOTSWAP_BIN"; }
	HOTSWAP_BIN=$WORK/hotswap
fi

# --- servers ------------------------------------------------------------------------
tlog "starting dynalite (${HOTSWAP_DYNALITE_ARGS:-$DYNALITE_DEFAULT_ARGS})"
start_dynalite $$
DDB_PID=$(bg_pid dynalite)
read -r REDIS_PORT <<<"$(free_ports 1)"
tlog "starting redis-server on 127.0.0.1:$REDIS_PORT"
bg_start redis $$ redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK"
REDIS_PID=$(bg_pid redis)
for ((i = 0; i < 200; i++)); do
	[[ $(redis-cli -p "$REDIS_PORT" PING 2>/dev/null) == PONG ]] && break
	proc_alive "$REDIS_PID" || die "redis-server exited during startup"
	sleep 0.05
done
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

mapping() { # TABLE FILE
	cat >"$2" <<EOF
table: $1
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
    floor: dualwrite
EOF
}

# load SIZE: user:0 .. user:SIZE-1, each HSET name n<i> age <i % 90> (about 40 bytes).
load() {
	rcli FLUSHALL >/dev/null
	awk -v n="$1" 'BEGIN {
		for (i = 0; i < n; i++) {
			k = "user:" i; v = "n" i; a = "" (i % 90)
			printf "*6\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n$4\r\nname\r\n$%d\r\n%s\r\n$3\r\nage\r\n$%d\r\n%s\r\n", length(k), k, length(v), v, length(a), a
		}
	}' | rcli --pipe >"$WORK/load.log" 2>&1 || { cat "$WORK/load.log" >&2; die "loading $1 keys failed"; }
	local got
	got=$(rcli DBSIZE)
	[[ $got == "$1" ]] || die "loaded $got keys, want $1"
}

# timed OUTFILE CMD...: runs CMD under /usr/bin/time; OUTFILE gets "wall user sys maxrss_kb".
timed() {
	local out=$1
	shift
	timeout "$BENCH_TIMEOUT" /usr/bin/time -o "$out" -f "%e %U %S %M" "$@"
}

RAW=$WORK/raw.tsv
: >"$RAW"
run_size() {
	local size=$1 tdirect="bench-bf-direct-$1" ths="bench-bf-hs-$1"
	local mdirect=$WORK/mapping-direct-$size.yaml mhs=$WORK/mapping-hs-$size.yaml
	mapping "$tdirect" "$mdirect"
	mapping "$ths" "$mhs"
	tlog "size $size: loading $size hashes into Redis"
	load "$size"
	for m in "$mdirect" "$mhs"; do
		"$HOTSWAP_BIN" table create --mapping "$m" --dynamodb-endpoint "$DYNALITE_ENDPOINT" --log-level warn || die "table create failed"
	done

	tlog "size $size: direct conditional PutItems (backfilldirect -c $CONCURRENCY)"
	timed "$WORK/time-direct" "$WORK/backfilldirect" -endpoint "$DYNALITE_ENDPOINT" -table "$tdirect" -n "$size" -c "$CONCURRENCY" \
		>"$WORK/direct.out" 2>"$WORK/direct.err" || { cat "$WORK/direct.err" >&2; die "backfilldirect failed"; }
	local d_keys d_secs d_rate d_wall d_user d_sys d_rss
	read -r d_keys d_secs d_rate <"$WORK/direct.out"
	read -r d_wall d_user d_sys d_rss <"$WORK/time-direct"
	tlog "  direct: $d_rate keys/s ($d_secs s)"
	# dynalite keeps tables in memory and slows as they grow: the backfill gets the same
	# dynalite state the direct run had.
	"$WORK/backfilldirect" -drop -endpoint "$DYNALITE_ENDPOINT" -table "$tdirect" || true

	tlog "size $size: hotswap backfill --rate 0 --concurrency $CONCURRENCY"
	local d0 d1
	d0=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$DDB_PID/stat")
	timed "$WORK/time-backfill" "$HOTSWAP_BIN" backfill --mapping "$mhs" --family user --redis "redis://127.0.0.1:$REDIS_PORT" \
		--dynamodb-endpoint "$DYNALITE_ENDPOINT" --force --rate 0 --concurrency "$CONCURRENCY" --scan-count "$SCAN_COUNT" \
		--unmigratable "$WORK/unmigratable.txt" --log-level warn >"$WORK/backfill.out" 2>"$WORK/backfill.err" ||
		{ cat "$WORK/backfill.out" "$WORK/backfill.err" >&2; die "hotswap backfill failed"; }
	d1=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$DDB_PID/stat")
	local b_wall b_user b_sys b_rss
	read -r b_wall b_user b_sys b_rss <"$WORK/time-backfill"
	grep -q "$size keys seen, $size copied" "$WORK/backfill.out" || { cat "$WORK/backfill.out" >&2; die "backfill did not copy $size keys"; }
	tlog "  backfill: $(cat "$WORK/backfill.out")"

	tlog "size $size: hotswap verify --concurrency $CONCURRENCY"
	timed "$WORK/time-verify" "$HOTSWAP_BIN" verify --mapping "$mhs" --family user --redis "redis://127.0.0.1:$REDIS_PORT" \
		--dynamodb-endpoint "$DYNALITE_ENDPOINT" --concurrency "$CONCURRENCY" --scan-count "$SCAN_COUNT" --log-level warn \
		>"$WORK/verify.out" 2>"$WORK/verify.err" || { cat "$WORK/verify.out" "$WORK/verify.err" >&2; die "hotswap verify failed"; }
	local v_wall v_user v_sys v_rss
	read -r v_wall v_user v_sys v_rss <"$WORK/time-verify"
	tlog "  verify: $(head -1 "$WORK/verify.out")"

	awk -v size="$size" -v dr="$d_rate" -v bw="$b_wall" -v bu="$b_user" -v bs="$b_sys" -v br="$b_rss" \
		-v vw="$v_wall" -v vr="$v_rss" -v dd="$((d1 - d0))" -v hz="$(getconf CLK_TCK)" -v du="$d_user" -v ds="$d_sys" 'BEGIN {
		printf "%d\t%.0f\t%.0f\t%.1f\t%.1f\t%.0f\t%.1f\t%.1f\t%.1f\n", size, dr, size / bw, (bu + bs) * 1e6 / size, br / 1024, size / vw, vr / 1024, dd / hz * 1e6 / size, (du + ds) * 1e6 / size
	}' >>"$RAW"
	"$WORK/backfilldirect" -drop -endpoint "$DYNALITE_ENDPOINT" -table "$ths" || true
}

BENCH_START=$(date +%s)
run_size "$SMALL"
run_size "$N"
BENCH_END=$(date +%s)

# raw.tsv: size direct_kps backfill_kps cpu_us_per_key rss_mib verify_kps verify_rss_mib dynalite_us_per_key
# direct_cpu_us_per_key
{
	echo "## hotswap backfill benchmark"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load average at start of the runs: see below; machine: $(nproc) CPUs ($(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r)"
	echo "- script: \`N=$N SMALL=$SMALL CONCURRENCY=$CONCURRENCY SCAN_COUNT=$SCAN_COUNT test/bench/backfill.sh\`; $(redis-server --version | awk '{ print $3 }' | tr -d 'v='), dynalite, $(go version | awk '{ print $3 }')"
	echo "- keys: small hashes \`HSET user:<i> name n<i> age <i%90>\`; backfill: \`hotswap backfill --rate 0 --concurrency $CONCURRENCY --scan-count $SCAN_COUNT\`;"
	echo "  direct: \`backfilldirect -c $CONCURRENCY\` (the same items and condition, no Redis); each into its own fresh table"
	echo
	echo "| keys | direct keys/s | backfill keys/s (ratio) | hotswap µs CPU/key (direct's) | backfill peak RSS MiB | verify keys/s | verify peak RSS MiB | dynalite µs CPU/key (backfill) |"
	echo "|--:|--:|--:|--:|--:|--:|--:|--:|"
	awk -F'\t' '{ printf "| %d | %d | %d (%.2fx) | %.1f (%.1f) | %.1f | %d | %.1f | %.1f |\n", $1, $2, $3, $3 / $2, $4, $9, $5, $6, $7, $8 }' "$RAW"
	echo
	awk -F'\t' 'NR == 1 { s = $5; sv = $7; sk = $1 } NR == 2 {
		r = $3 / $2
		printf "- backfill / direct at %d keys: %.2fx (target ≥ 0.8: %s)\n", $1, r, ((r >= 0.8) ? "met" : "**not met**")
		g = s > 0 ? $5 / s : 0
		printf "- peak RSS %d keys → %d keys: %.1f → %.1f MiB (%.2fx; target within 20%%: %s); verify %.1f → %.1f MiB\n", sk, $1, s, $5, g, (g <= 1.2 ? "met" : "**not met**"), sv, $7
	}' "$RAW"
	echo
	echo "Benchmark phase $((BENCH_END - BENCH_START)) s, whole script $(($(date +%s) - SCRIPT_START)) s, load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$OUT"
cat "$OUT"
cp "$RAW" "${OUT%.md}.raw.tsv" 2>/dev/null || true
tlog "report written to $OUT (raw runs: ${OUT%.md}.raw.tsv)"
