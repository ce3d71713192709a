#!/usr/bin/env bash
# Runs every fuzz target (func FuzzXxx in a _test.go file) for $FUZZTIME (default 30s) each.
# go test -fuzz takes one package and one target at a time, so they are found here with grep.
# A failing input is written to the package's testdata/fuzz/ by go test: commit it.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HOTSWAP_ROOT"

FUZZTIME=${FUZZTIME:-30s}
mapfile -t hits < <(
	grep -rHoE '^func Fuzz[A-Za-z0-9_]*\(' --include='*_test.go' \
		--exclude-dir=.git --exclude-dir=tools --exclude-dir=bin --exclude-dir=testdata --exclude-dir=vendor . |
		sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u
)
if ((${#hits[@]} == 0)); then
	log "fuzz: no fuzz targets (func FuzzXxx(f *testing.F)) found"
	exit 0
fi
for h in "${hits[@]}"; do
	dir=${h% *}
	name=${h#* }
	run_step "fuzz $dir $name ($FUZZTIME)" go test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" "$dir"
done
steps_summary || exit 1
