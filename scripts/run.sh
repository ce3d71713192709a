#!/usr/bin/env bash
# `make run`: a local hotswap with its own redis-server and dynalite, in the foreground.
#
#   redis-server  free loopback port, no persistence, its own temp dir
#   dynalite      free loopback port, in memory
#   hotswap table create  the mapping's table in dynalite
#   hotswap serve --listen/--admin on free loopback ports, with deploy/examples/{mapping.yaml,flags.json}
#
# Ctrl-C (or SIGTERM) is passed on to hotswap once; when it has exited, redis-server and dynalite
# are stopped and the temp dir removed. The same happens if anything fails on the way.
#
# Environment: HOTSWAP_BIN (default bin/hotswap), HOTSWAP_MAPPING, HOTSWAP_FLAGS (default: the
# files in deploy/examples), HOTSWAP_SERVE_ARGS (extra arguments for `hotswap serve`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HOTSWAP_ROOT"

BIN=${HOTSWAP_BIN:-$HOTSWAP_ROOT/bin/hotswap}
MAPPING=${HOTSWAP_MAPPING:-$HOTSWAP_ROOT/deploy/examples/mapping.yaml}
FLAGS=${HOTSWAP_FLAGS:-$HOTSWAP_ROOT/deploy/examples/flags.json}
[[ -x "$BIN" ]] || die "$BIN is missing: run make build (make run does)"
command -v redis-server >/dev/null 2>&1 || die "redis-server is not installed: run scripts/deps.sh"
[[ -f "$MAPPING" ]] || die "mapping file $MAPPING is missing"
[[ -f "$FLAGS" ]] || die "flag file $FLAGS is missing"

stack_init
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	log "stopping"
	if [[ -n "${HOTSWAP_PID:-}" ]] && proc_alive "$HOTSWAP_PID"; then
		kill -TERM "$HOTSWAP_PID" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do proc_alive "$HOTSWAP_PID" || break; sleep 0.1; done
		kill -KILL "$HOTSWAP_PID" 2>/dev/null || true
	fi
	stack_stop_all
	rm -rf "$HOTSWAP_STACK_DIR"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# redis-server: retried on a new port if the one it got was taken meanwhile.
for attempt in 1 2 3 4 5; do
	REDIS_PORT=$(free_ports 1)
	bg_start redis $$ redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$HOTSWAP_STACK_DIR" --daemonize no --logfile ''
	pid=$(bg_pid redis)
	up=0
	for ((i = 0; i < 100; i++)); do
		proc_alive "$pid" || break
		if [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; then
			up=1
			break
		fi
		sleep 0.1
	done
	((up)) && break
	bg_log_tail redis
	bg_stop redis
	((attempt < 5)) || die "redis-server did not start"
	warn "redis-server did not start on port $REDIS_PORT (attempt $attempt); trying another port"
done
log "redis-server is up at 127.0.0.1:$REDIS_PORT (pid $(bg_pid redis))"

start_dynalite $$
export_fake_aws_env
# The table the mapping names (idempotent; dynalite has no TTL or PITR API, which
# table create reports and skips).
"$BIN" table create --mapping "$MAPPING" --dynamodb-endpoint "$DYNALITE_ENDPOINT" ||
	die "hotswap table create failed"

read -r LISTEN_PORT ADMIN_PORT < <(free_ports 2)
read -r -a extra <<<"${HOTSWAP_SERVE_ARGS:-}"
serve=("$BIN" serve
	--listen "127.0.0.1:$LISTEN_PORT"
	--redis "redis://127.0.0.1:$REDIS_PORT"
	--admin "127.0.0.1:$ADMIN_PORT"
	--mapping "$MAPPING"
	--flags "$FLAGS"
	--dynamodb-endpoint "$DYNALITE_ENDPOINT"
	"${extra[@]}")

cat >&2 <<MSG

  ============================================================================
   hotswap is starting
     connect:      redis-cli -p $LISTEN_PORT        (redis://127.0.0.1:$LISTEN_PORT)
     admin:        http://127.0.0.1:$ADMIN_PORT/
     upstream:     redis-server 127.0.0.1:$REDIS_PORT (direct: redis-cli -p $REDIS_PORT)
     dynamodb:     dynalite $DYNALITE_ENDPOINT (in memory)
     mapping:      ${MAPPING#"$HOTSWAP_ROOT"/}
     flags:        ${FLAGS#"$HOTSWAP_ROOT"/}
     logs, state:  $HOTSWAP_STACK_DIR
   Ctrl-C stops hotswap, redis-server and dynalite.
  ============================================================================

MSG
log "${serve[*]}"

# hotswap runs in its own session so that a Ctrl-C reaches it exactly once: from this script.
setsid "${serve[@]}" </dev/null &
HOTSWAP_PID=$!
forward() {
	log "passing SIG$1 to hotswap (pid $HOTSWAP_PID); waiting for it to exit"
	kill -s "$1" "$HOTSWAP_PID" 2>/dev/null || true
}
trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward TERM' HUP
# If this script is killed outright (kill -9), don't leave hotswap behind.
(
	trap '' INT TERM HUP
	exec </dev/null >/dev/null 2>&1
	while proc_alive $$ && proc_alive "$HOTSWAP_PID"; do sleep 1; done
	if proc_alive "$HOTSWAP_PID"; then kill -TERM "$HOTSWAP_PID"; fi
) &

while :; do
	rc=0
	wait "$HOTSWAP_PID" || rc=$?
	# wait also returns (status > 128) when a trapped signal arrives: go on until hotswap is gone
	# (kill -0 still sees it as a zombie, and the next wait then returns its exit status).
	kill -0 "$HOTSWAP_PID" 2>/dev/null || break
done
HOTSWAP_PID=
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
log "hotswap exited with status $rc"
exit "$rc"
