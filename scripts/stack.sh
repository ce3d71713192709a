#!/usr/bin/env bash
# Starts and stops the local AWS stand-ins the tests use: dynalite (in memory) and moto_server,
# each on a free loopback port.
#
#   eval "$(scripts/stack.sh start)"   # starts both; prints export lines for the endpoints
#   scripts/stack.sh start dynalite    # or only one of them
#   scripts/stack.sh status
#   scripts/stack.sh stop              # stops what start started (uses $HOTSWAP_STACK_DIR)
#   scripts/stack.sh stop DIR          # or name the state directory explicitly
#
# `start` prints to stdout (for eval):
#   export HOTSWAP_STACK_DIR=...                      state dir: pid files and server logs
#   export HOTSWAP_TEST_DYNALITE_ENDPOINT=http://127.0.0.1:PORT
#   export HOTSWAP_TEST_MOTO_ENDPOINT=http://127.0.0.1:PORT
# and writes the same lines to $HOTSWAP_STACK_DIR/env. Servers started this way keep running
# until `stop`; scripts/test.sh and scripts/run.sh stop theirs when they exit.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd=${1:-}
[[ -n "$cmd" ]] || usage
shift

case "$cmd" in
start)
	which=("$@")
	((${#which[@]})) || which=(dynalite moto)
	HOTSWAP_STACK_DIR=""
	stack_init
	envfile="$HOTSWAP_STACK_DIR/env"
	: >"$envfile"
	# On failure, stop what this call already started.
	trap 'rc=$?; if ((rc != 0)); then stack_stop_all; rm -rf "$HOTSWAP_STACK_DIR"; fi' EXIT
	echo "export HOTSWAP_STACK_DIR=$HOTSWAP_STACK_DIR" >>"$envfile"
	for w in "${which[@]}"; do
		case "$w" in
		dynalite)
			start_dynalite 0
			echo "export HOTSWAP_TEST_DYNALITE_ENDPOINT=$DYNALITE_ENDPOINT" >>"$envfile"
			;;
		moto)
			start_moto 0
			echo "export HOTSWAP_TEST_MOTO_ENDPOINT=$MOTO_ENDPOINT" >>"$envfile"
			;;
		*) die "unknown server '$w' (want: dynalite moto)" ;;
		esac
	done
	cat "$envfile"
	log "stop with: scripts/stack.sh stop $HOTSWAP_STACK_DIR"
	;;
stop)
	HOTSWAP_STACK_DIR=${1:-${HOTSWAP_STACK_DIR:-}}
	[[ -n "$HOTSWAP_STACK_DIR" ]] || die "which stack? set HOTSWAP_STACK_DIR or pass the directory that 'start' printed"
	[[ -d "$HOTSWAP_STACK_DIR" ]] || { log "nothing to stop: $HOTSWAP_STACK_DIR does not exist"; exit 0; }
	[[ "$(basename "$HOTSWAP_STACK_DIR")" == hotswap-stack.* ]] || die "$HOTSWAP_STACK_DIR is not a stack directory"
	stack_stop_all
	rm -rf "$HOTSWAP_STACK_DIR"
	;;
status)
	[[ -n "${HOTSWAP_STACK_DIR:-}" && -d "${HOTSWAP_STACK_DIR:-}" ]] || die "no stack: HOTSWAP_STACK_DIR is unset or gone"
	cat "$HOTSWAP_STACK_DIR/env" 2>/dev/null || true
	for f in "$HOTSWAP_STACK_DIR"/*.pid; do
		[[ -e "$f" ]] || continue
		pid=$(<"$f")
		if proc_alive "$pid"; then state=running; else state=dead; fi
		printf '%s: pid %s %s\n' "$(basename "$f" .pid)" "$pid" "$state"
	done
	;;
*) usage ;;
esac
