#!/usr/bin/env bash
# The whole check, as `make test` and CI run it:
#   build, start dynalite + moto, go vet, staticcheck, gofmt, go test $GOTESTFLAGS $GOTESTPKGS,
#   stop the servers (also on failure or Ctrl-C), exit non-zero if any step failed.
# Every step runs even if an earlier one failed, so one run reports everything.
#
# The tests see:
#   HOTSWAP_TEST_DYNALITE_ENDPOINT  http://127.0.0.1:PORT, dynalite in memory (shared by all tests)
#   HOTSWAP_TEST_MOTO_ENDPOINT      http://127.0.0.1:PORT, moto_server (shared by all tests)
#   HOTSWAP_DYNALITE, HOTSWAP_MOTO_SERVER  the binaries, for tests that start their own
#   AWS_* dummy credentials and region, no metadata service
# redis-server is started by the tests themselves (internal/testutil), from PATH.
#
# Environment: GOTESTFLAGS (default: -race -count=1 -timeout 20m), GOTESTTAGS (build tags, default:
# integration; empty for none), GOTESTPKGS (default: ./...), HOTSWAP_LINT_TAGS (tags for vet and
# staticcheck, default: integration,soak).
# Expects scripts/deps.sh to have run (make test does that first).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HOTSWAP_ROOT"

GOTESTFLAGS=${GOTESTFLAGS:--race -count=1 -timeout 20m}
GOTESTPKGS=${GOTESTPKGS:-./...}
GOTESTTAGS=${GOTESTTAGS-integration}
T0=$SECONDS

stack_init
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stack_stop_all
	rm -rf "$HOTSWAP_STACK_DIR"
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

run_step "build (make build)" make --no-print-directory -C "$HOTSWAP_ROOT" build

log "starting dynalite and moto"
start_dynalite $$
start_moto $$
export HOTSWAP_TEST_DYNALITE_ENDPOINT=$DYNALITE_ENDPOINT
export HOTSWAP_TEST_MOTO_ENDPOINT=$MOTO_ENDPOINT
export HOTSWAP_DYNALITE=$DYNALITE_BIN
export HOTSWAP_MOTO_SERVER=$MOTO_BIN
export_fake_aws_env
log "HOTSWAP_TEST_DYNALITE_ENDPOINT=$HOTSWAP_TEST_DYNALITE_ENDPOINT"
log "HOTSWAP_TEST_MOTO_ENDPOINT=$HOTSWAP_TEST_MOTO_ENDPOINT"

run_step "go vet" lint_vet
run_step "staticcheck" lint_staticcheck
run_step "gofmt" lint_gofmt
read -r -a testflags <<<"$GOTESTFLAGS"
read -r -a testpkgs <<<"$GOTESTPKGS"
[[ -z "$GOTESTTAGS" ]] || testflags=(-tags "$GOTESTTAGS" "${testflags[@]}")
run_step "go test ${testflags[*]} ${GOTESTPKGS}" go test "${testflags[@]}" "${testpkgs[@]}"
# Outside ./...: the AWS smoke test (build tag aws: it must compile) and the Kubernetes
# manifests' test, its own module (kustomize and the Kubernetes types stay out of go.mod).
if [[ "$GOTESTPKGS" == ./... ]]; then
	run_step "go vet -tags aws ./test/aws/" go vet -tags aws ./test/aws/
	run_step "deploy/kubernetes/test (vet, staticcheck, test)" bash -c 'cd deploy/kubernetes/test && go vet ./... && "$1" ./... && go test -count=1 -timeout 15m ./...' _ "$STATICCHECK"
fi

for s in dynalite moto; do
	pid=$(bg_pid "$s")
	proc_alive "$pid" || { step_fail "$s died during the tests"; bg_log_tail "$s"; }
done

log "test.sh took $((SECONDS - T0))s"
steps_summary || exit 1
