# shellcheck shell=bash
# Shared helpers for the scripts in this folder. Source it; don't run it.
#
# Conventions: log lines go to stderr (stdout stays free for machine-readable output such as
# `scripts/stack.sh start`), every server is started in its own session on a free loopback port
# chosen by the kernel, and its pid file lives in a temporary state directory.

HOTSWAP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Pinned tool versions (the npm and PyPI pins live in tools/dynalite and tools/moto).
STATICCHECK_MODULE=honnef.co/go/tools
STATICCHECK_VERSION=v0.8.2 # staticcheck 2026.2.2; works with Go 1.26
TOOLS_BIN="$HOTSWAP_ROOT/tools/bin"
STATICCHECK="$TOOLS_BIN/staticcheck"
DYNALITE_DIR="$HOTSWAP_ROOT/tools/dynalite"
# DYNALITE_BIN starts dynalite through a launcher that keeps it serving when a client
# aborts a request mid-body (see tools/dynalite/serve.js); DYNALITE_CLI is the installed one.
DYNALITE_CLI="$DYNALITE_DIR/node_modules/.bin/dynalite"
DYNALITE_BIN="$DYNALITE_DIR/serve.js"
MOTO_DIR="$HOTSWAP_ROOT/tools/moto"
MOTO_VENV="$MOTO_DIR/.venv"
MOTO_BIN="$MOTO_VENV/bin/moto_server"

# Flags for dynalite: in memory (no --path), and tables change state at once, so tests
# don't sleep through CREATING. Override with HOTSWAP_DYNALITE_ARGS.
DYNALITE_DEFAULT_ARGS="--createTableMs 0 --deleteTableMs 0 --updateTableMs 0"

# py ARGS...: python3, resolved once (py_init) to the real interpreter: a pyenv or asdf shim costs
# up to seconds per call on a loaded machine, and readiness probes call it many times.
py_init() {
	if [[ -z "${HOTSWAP_PYTHON:-}" ]]; then
		command -v python3 >/dev/null 2>&1 || die "python3 is not installed"
		HOTSWAP_PYTHON=$(python3 -c 'import sys; print(sys.executable)') || die "python3 does not run"
		[[ -x "$HOTSWAP_PYTHON" ]] || HOTSWAP_PYTHON=python3
	fi
}
py() {
	py_init
	"$HOTSWAP_PYTHON" "$@"
}

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
	printf '\nERROR: %s\n\n' "$*" >&2
	exit 1
}

# free_ports N: prints N distinct TCP ports on 127.0.0.1 that the kernel just handed out
# (all sockets are held open together, so the N ports differ).
free_ports() {
	py - "${1:-1}" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# proc_alive PID: true while PID is a live process (a zombie counts as dead).
proc_alive() {
	local pid=$1 stat state
	[[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
	stat=$(<"/proc/$pid/stat") 2>/dev/null || return 1
	state=${stat##*) }
	state=${state%% *}
	[[ "$state" != Z && "$state" != X ]]
}

# proc_pgid PID: prints the process group of PID.
proc_pgid() {
	local stat rest
	stat=$(<"/proc/$1/stat") 2>/dev/null || return 1
	rest=${stat##*) }
	# rest: state ppid pgrp ...
	set -- $rest
	printf '%s\n' "$3"
}

# ---------------------------------------------------------------------------------------------
# Background servers. stack_init creates $HOTSWAP_STACK_DIR; bg_start/bg_stop manage one server
# each there (NAME.pid, NAME.log).

stack_init() {
	if [[ -z "${HOTSWAP_STACK_DIR:-}" ]]; then
		HOTSWAP_STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hotswap-stack.XXXXXX")
	fi
	mkdir -p "$HOTSWAP_STACK_DIR"
	export HOTSWAP_STACK_DIR
	py_init
}

# bg_start NAME OWNER_PID CMD...: starts CMD in a new session (its own process group), stdout
# and stderr to $HOTSWAP_STACK_DIR/NAME.log, pid to NAME.pid. With OWNER_PID (not 0), a small
# watchdog kills the server if OWNER_PID dies without cleaning up (kill -9, a crash).
bg_start() {
	local name=$1 owner=$2
	shift 2
	local log="$HOTSWAP_STACK_DIR/$name.log"
	# Without job control (scripts), the child is no group leader, so setsid execs in place
	# and $! is the server's own pid (and its process group id).
	setsid "$@" >"$log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$HOTSWAP_STACK_DIR/$name.pid"
	if [[ "$owner" != 0 ]]; then
		(
			trap '' INT TERM HUP
			exec </dev/null >/dev/null 2>&1
			while proc_alive "$owner" && proc_alive "$pid"; do sleep 1; done
			if proc_alive "$pid"; then
				kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
				sleep 3
				kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
			fi
		) &
	fi
}

bg_pid() { cat "$HOTSWAP_STACK_DIR/$1.pid" 2>/dev/null; }

bg_log_tail() {
	local log="$HOTSWAP_STACK_DIR/$1.log"
	[[ -s "$log" ]] && { printf -- '--- last lines of %s ---\n' "$log"; tail -n 30 "$log"; printf -- '---\n'; } >&2
	return 0
}

# bg_stop NAME: SIGTERM to the server's process group, SIGKILL after 5 s; safe to call twice.
bg_stop() {
	local name=$1 pid i target
	pid=$(bg_pid "$name") || return 0
	[[ -n "$pid" ]] || return 0
	if proc_alive "$pid"; then
		# Signal the whole group only if the server leads its own group (it does when started
		# by bg_start); never signal a group we don't own.
		target=$pid
		[[ "$(proc_pgid "$pid")" == "$pid" ]] && target=-$pid
		kill -TERM -- "$target" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			proc_alive "$pid" || break
			sleep 0.1
		done
		if proc_alive "$pid"; then
			warn "$name (pid $pid) ignored SIGTERM for 5s; sending SIGKILL"
			kill -KILL -- "$target" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true # reap it if it is our child
	rm -f "$HOTSWAP_STACK_DIR/$name.pid"
	return 0
}

# stack_stop_all: stops every server with a pid file in $HOTSWAP_STACK_DIR.
stack_stop_all() {
	[[ -n "${HOTSWAP_STACK_DIR:-}" && -d "$HOTSWAP_STACK_DIR" ]] || return 0
	local f name
	for f in "$HOTSWAP_STACK_DIR"/*.pid; do
		[[ -e "$f" ]] || continue
		name=$(basename "$f" .pid)
		bg_stop "$name"
		log "stopped $name"
	done
}

# http_probe KIND URL: one readiness probe, true when the server answers as expected.
#   dynalite: POST ListTables (any signature is accepted) must answer 200 with TableNames.
#   moto:     GET /moto-api/ must answer 200.
http_probe() {
	# No redirection on this call: a trap that fires during it would inherit it.
	py - "$1" "$2" <<'EOF'
import sys, urllib.request
kind, url = sys.argv[1], sys.argv[2]
try:
    if kind == "dynalite":
        req = urllib.request.Request(url + "/", data=b"{}", method="POST", headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": "AWS4-HMAC-SHA256 Credential=hotswap/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
            "X-Amz-Date": "20260101T000000Z",
        })
        body = urllib.request.urlopen(req, timeout=2).read()
        sys.exit(0 if b"TableNames" in body else 1)
    else:
        resp = urllib.request.urlopen(url + "/moto-api/", timeout=2)
        sys.exit(0 if resp.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

# start_http_server NAME KIND OWNER_PID CMD-WITH-@PORT@...: picks a free port, starts the server
# with @PORT@ replaced, waits until http_probe passes ($HOTSWAP_STACK_TIMEOUT seconds at most,
# default 120: a loaded CI machine can be slow), retries on a new port if the server dies at once
# (another process may have taken the port), and sets STARTED_ENDPOINT.
start_http_server() {
	local name=$1 kind=$2 owner=$3
	shift 3
	local attempt port pid endpoint arg args deadline t0
	for attempt in 1 2 3 4 5; do
		port=$(free_ports 1) || die "cannot get a free port (is python3 installed?)"
		args=()
		for arg in "$@"; do args+=("${arg//@PORT@/$port}"); done
		t0=$SECONDS
		deadline=$((SECONDS + ${HOTSWAP_STACK_TIMEOUT:-120}))
		bg_start "$name" "$owner" "${args[@]}"
		pid=$(bg_pid "$name")
		endpoint="http://127.0.0.1:$port"
		while ((SECONDS < deadline)); do
			if ! proc_alive "$pid"; then
				wait "$pid" 2>/dev/null || true
				break
			fi
			if http_probe "$kind" "$endpoint"; then
				STARTED_ENDPOINT=$endpoint
				log "$name is up at $endpoint after $((SECONDS - t0))s (pid $pid, log $HOTSWAP_STACK_DIR/$name.log)"
				return 0
			fi
			sleep 0.1
		done
		if proc_alive "$pid"; then
			bg_log_tail "$name"
			bg_stop "$name"
			die "$name did not answer on $endpoint within ${HOTSWAP_STACK_TIMEOUT:-120}s"
		fi
		warn "$name exited at start on port $port (attempt $attempt)"
		bg_log_tail "$name"
		rm -f "$HOTSWAP_STACK_DIR/$name.pid"
	done
	die "$name failed to start 5 times; see the log above"
}

# start_dynalite OWNER_PID: sets DYNALITE_ENDPOINT.
start_dynalite() {
	[[ -x "$DYNALITE_CLI" ]] || die "dynalite is not installed ($DYNALITE_CLI): run scripts/deps.sh"
	local -a extra
	read -r -a extra <<<"${HOTSWAP_DYNALITE_ARGS:-$DYNALITE_DEFAULT_ARGS}"
	start_http_server dynalite dynalite "$1" "$DYNALITE_BIN" --host 127.0.0.1 --port @PORT@ "${extra[@]}"
	DYNALITE_ENDPOINT=$STARTED_ENDPOINT
}

# start_moto OWNER_PID: sets MOTO_ENDPOINT.
start_moto() {
	[[ -x "$MOTO_BIN" ]] || die "moto is not installed ($MOTO_BIN): run scripts/deps.sh"
	start_http_server moto moto "$1" "$MOTO_BIN" -H 127.0.0.1 -p @PORT@
	MOTO_ENDPOINT=$STARTED_ENDPOINT
}

# Dummy AWS settings: every endpoint the scripts hand out is local, and the SDK must never look
# for real credentials or ask an instance metadata service.
export_fake_aws_env() {
	export AWS_ACCESS_KEY_ID=hotswap-local
	export AWS_SECRET_ACCESS_KEY=hotswap-local
	unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
	export AWS_REGION="${HOTSWAP_AWS_REGION:-us-east-1}"
	export AWS_DEFAULT_REGION="$AWS_REGION"
	export AWS_EC2_METADATA_DISABLED=true
	export AWS_CONFIG_FILE=/dev/null
	export AWS_SHARED_CREDENTIALS_FILE=/dev/null
}

# ---------------------------------------------------------------------------------------------
# Lint steps (used by lint.sh and test.sh). Each returns non-zero on failure.

# go_source_files: every .go file Go itself would look at (no testdata, vendor, tools, bin, or
# dot/underscore directories), NUL-separated.
go_source_files() {
	(cd "$HOTSWAP_ROOT" && find . \
		\( -type d \( -name testdata -o -name vendor -o -name node_modules -o -name '.?*' -o -name '_*' \
		-o -path ./tools -o -path ./bin \) -prune \) -o \( -type f -name '*.go' -print0 \))
}

# Build tags the linters see: every tagged test file (STYLE.md: test/ uses integration and soak)
# is vetted even though go test runs only some of them.
LINT_TAGS=${HOTSWAP_LINT_TAGS:-integration,soak}

lint_vet() { (cd "$HOTSWAP_ROOT" && go vet -tags "$LINT_TAGS" ./...); }

lint_staticcheck() {
	[[ -x "$STATICCHECK" ]] || {
		printf 'staticcheck is not installed (%s): run scripts/deps.sh\n' "$STATICCHECK" >&2
		return 1
	}
	(cd "$HOTSWAP_ROOT" && "$STATICCHECK" -tags "$LINT_TAGS" ./...)
}

lint_gofmt() {
	local out
	out=$(cd "$HOTSWAP_ROOT" && go_source_files | xargs -0 -r gofmt -l) || return 1
	if [[ -n "$out" ]]; then
		printf 'gofmt: these files need formatting (run gofmt -w on them):\n%s\n' "$out" >&2
		return 1
	fi
}

# Step runner: run_step NAME CMD... runs CMD, records the result, never exits.
STEPS_FAILED=()
STEPS_RESULTS=()
run_step() {
	local name=$1 start rc
	shift
	start=$SECONDS
	log "$name"
	rc=0
	"$@" || rc=$?
	if ((rc == 0)); then
		STEPS_RESULTS+=("ok      $name ($((SECONDS - start))s)")
		log "$name: ok ($((SECONDS - start))s)"
	else
		STEPS_FAILED+=("$name")
		STEPS_RESULTS+=("FAILED  $name (exit $rc, $((SECONDS - start))s)")
		log "$name: FAILED (exit $rc, $((SECONDS - start))s)"
	fi
	return 0
}

# step_fail NAME: records a failure found outside run_step.
step_fail() {
	STEPS_FAILED+=("$1")
	STEPS_RESULTS+=("FAILED  $1")
}

# steps_summary: prints the result of every step in order; returns 1 if any failed.
steps_summary() {
	local s
	printf '\n==> summary\n' >&2
	for s in "${STEPS_RESULTS[@]}"; do printf '    %s\n' "$s" >&2; done
	if ((${#STEPS_FAILED[@]})); then
		printf '==> %d step(s) FAILED: %s\n' "${#STEPS_FAILED[@]}" "$(IFS=,; echo "${STEPS_FAILED[*]}" | sed 's/,/, /g')" >&2
		return 1
	fi
	printf '==> all steps passed\n' >&2
}

# --- helpers of the benchmark and load scripts (test/bench/*.sh, test/load/run.sh) -------
tlog() { log "[$(date +%H:%M:%S)] $*"; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (${2:-apt-get install -y $1})"; }
# wait_ping PORT PID NAME: waits (10s at most) until the server on PORT answers PING.
wait_ping() {
	local i
	for ((i = 0; i < 200; i++)); do
		proc_alive "$2" || { bg_log_tail "$3"; die "$3 exited during startup"; }
		[[ $(redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null) == PONG ]] && return 0
		sleep 0.05
	done
	bg_log_tail "$3"
	die "$3 did not answer PING on port $1 within 10s"
}
# cpu_ticks PID: utime+stime of a whole process (all threads), in clock ticks. Fields after
# "(comm) ": $1 is field 3 (state), so utime (14) and stime (15) are $12 and $13.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
