#!/usr/bin/env bash
# Installs what hotswap's build, tests, `make run` and benchmarks need, and only what is missing:
#
#   apt          redis-server, redis-tools (redis-cli, redis-benchmark), nutcracker (twemproxy),
#                chromium + chromium-driver (the status page test drives a headless Chromium),
#                and gcc/libc6-dev (go test -race needs cgo)
#   dynalite     npm ci in tools/dynalite (pinned in package.json + package-lock.json)
#   moto         virtualenv tools/moto/.venv from tools/moto/requirements.txt
#   staticcheck  go install into tools/bin at the version pinned in scripts/lib.sh
#   clients      test/clients/deps.sh, if present (the client libraries test/clients drives)
#
# Usage: scripts/deps.sh [apt|dynalite|moto|staticcheck|clients]...   (no argument: all of them)
# Idempotent: a second run checks and does nothing. Needs Go, Node.js + npm, Python 3 + venv;
# installs the last two with apt-get if they are missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HOTSWAP_ROOT"

T0=$SECONDS
APT_UPDATED=0

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run: $* (not root, and sudo is not installed)"
	fi
}

have_apt() { command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; }

deb_installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]; }

# apt_install PKG...: apt-get update (once per run), then install.
apt_install() {
	have_apt || die "these Debian packages are missing and apt-get is not available: $*; install them by hand"
	if ((APT_UPDATED == 0)); then
		log "apt-get update"
		as_root apt-get update -qq || die "apt-get update failed"
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
		|| die "apt-get install $* failed"
}

deps_apt() {
	local missing=() p
	if have_apt; then
		for p in redis-server redis-tools nutcracker chromium chromium-driver; do
			deb_installed "$p" || missing+=("$p")
		done
	else
		command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
		command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
		command -v nutcracker >/dev/null 2>&1 || [[ -x /usr/sbin/nutcracker ]] || missing+=(nutcracker)
		command -v chromium >/dev/null 2>&1 || missing+=(chromium chromium-driver)
	fi
	# go test -race needs cgo, hence a C compiler and libc headers.
	command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
	if ((${#missing[@]})); then
		apt_install "${missing[@]}"
	else
		log "apt: redis-server, redis-tools, nutcracker, chromium, gcc present"
	fi
	command -v redis-server >/dev/null 2>&1 || die "redis-server is still not on PATH after installing it"
}

need_cmd() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is not installed; $2"
}

deps_dynalite() {
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		apt_install nodejs npm
	fi
	local stamp="$DYNALITE_DIR/node_modules/.hotswap-stamp" want
	want="$(sha256sum "$DYNALITE_DIR/package-lock.json" | cut -d' ' -f1) node-$(node --version)"
	if [[ -x "$DYNALITE_CLI" && -f "$stamp" && "$(<"$stamp")" == "$want" ]]; then
		log "dynalite: tools/dynalite/node_modules is current"
		return
	fi
	log "dynalite: npm ci in tools/dynalite"
	(cd "$DYNALITE_DIR" && npm ci --no-audit --no-fund --loglevel=error) \
		|| die "npm ci in tools/dynalite failed"
	[[ -x "$DYNALITE_CLI" ]] || die "npm ci ran but $DYNALITE_CLI is missing"
	printf '%s' "$want" >"$stamp"
}

deps_moto() {
	need_cmd python3 "install Python 3 (Debian: apt-get install python3 python3-venv)"
	local req="$MOTO_DIR/requirements.txt" stamp="$MOTO_VENV/.hotswap-stamp" want pinned have
	pinned=$(sed -n 's/^moto\[server\]==\([^ ;#]*\).*/\1/p' "$req")
	[[ -n "$pinned" ]] || die "$req has no moto[server]==VERSION line"
	want="$(sha256sum "$req" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version.split()[0])')"
	if [[ -x "$MOTO_BIN" && -f "$stamp" && "$(<"$stamp")" == "$want" ]]; then
		have=$("$MOTO_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || true)
		if [[ "$have" == "$pinned" ]]; then
			log "moto: $pinned installed in tools/moto/.venv"
			return
		fi
	fi
	if [[ ! -x "$MOTO_VENV/bin/python" ]] || ! "$MOTO_VENV/bin/python" -c '' 2>/dev/null; then
		rm -rf "$MOTO_VENV"
		log "moto: creating virtualenv tools/moto/.venv"
		if ! python3 -m venv "$MOTO_VENV" 2>/dev/null; then
			# Debian's python3 lacks ensurepip until python3-venv is installed.
			rm -rf "$MOTO_VENV"
			apt_install python3-venv
			python3 -m venv "$MOTO_VENV" || die "python3 -m venv failed"
		fi
	fi
	log "moto: pip install -r tools/moto/requirements.txt (moto[server]==$pinned)"
	"$MOTO_VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" \
		|| die "pip install of moto failed"
	[[ -x "$MOTO_BIN" ]] || die "pip install ran but $MOTO_BIN is missing"
	printf '%s' "$want" >"$stamp"
}

deps_staticcheck() {
	need_cmd go "install Go (1.26 or newer) and put it on PATH"
	local gover built
	gover=$(go env GOVERSION)
	if [[ -x "$STATICCHECK" ]]; then
		built=$(go version -m "$STATICCHECK" 2>/dev/null || true)
		# staticcheck must be built by the Go release the code is checked with.
		if [[ "$built" == *": $gover"* && "$built" == *"$STATICCHECK_MODULE"$'\t'"$STATICCHECK_VERSION"* ]]; then
			log "staticcheck: $STATICCHECK_VERSION (built with $gover) in tools/bin"
			return
		fi
	fi
	log "staticcheck: go install $STATICCHECK_MODULE/cmd/staticcheck@$STATICCHECK_VERSION into tools/bin"
	mkdir -p "$TOOLS_BIN"
	GOBIN="$TOOLS_BIN" go install "$STATICCHECK_MODULE/cmd/staticcheck@$STATICCHECK_VERSION" \
		|| die "go install staticcheck@$STATICCHECK_VERSION failed"
}

deps_clients() {
	local script="$HOTSWAP_ROOT/test/clients/deps.sh"
	if [[ -f "$script" ]]; then
		bash "$script" || die "test/clients/deps.sh failed"
	else
		log "clients: no test/clients/deps.sh, nothing to install"
	fi
}

targets=("$@")
((${#targets[@]})) || targets=(apt dynalite moto staticcheck clients)
for t in "${targets[@]}"; do
	case "$t" in
	apt | dynalite | moto | staticcheck | clients)
		t1=$SECONDS
		"deps_$t"
		((SECONDS - t1 < 2)) || log "$t: took $((SECONDS - t1))s"
		;;
	*) die "unknown dependency '$t' (want: apt dynalite moto staticcheck clients)" ;;
	esac
done
log "deps: done in $((SECONDS - T0))s"
