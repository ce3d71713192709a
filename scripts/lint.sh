#!/usr/bin/env bash
# go vet, staticcheck and a gofmt check over the whole module; runs all three and fails if any
# failed. staticcheck comes from tools/bin (scripts/deps.sh staticcheck installs it).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HOTSWAP_ROOT"

run_step "go vet" lint_vet
run_step "staticcheck" lint_staticcheck
run_step "gofmt" lint_gofmt
steps_summary || exit 1
