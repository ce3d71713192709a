#!/usr/bin/env bash
# Installs the client libraries that test/clients drives through hotswap, at the versions
# pinned beside this script, and only what is missing or out of date:
#
#   python  virtualenv python/.venv from python/requirements.txt (redis-py)
#   node    npm ci in node/ from package.json + package-lock.json (ioredis)
#   java    mvn package in java/ (Jedis, Lettuce): target/hotswap-clients.jar + target/lib/
#
# Usage: test/clients/deps.sh [python|node|java]...   (no argument: all three)
# Idempotent: each part records what it installed from (a hash of its pin files and the
# runtime's version) and is a no-op while that is unchanged. Missing runtimes (python3-venv,
# nodejs/npm, a JDK, maven) are installed with apt-get when running as root or with sudo.
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
T0=$SECONDS
APT_UPDATED=0

log() { printf '[clients/deps] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run: $* (not root, and sudo is not installed)"
	fi
}

apt_install() {
	command -v apt-get >/dev/null 2>&1 || die "missing: $*; apt-get is not available: install them by hand"
	if ((APT_UPDATED == 0)); then
		log "apt-get update"
		as_root apt-get update -qq || die "apt-get update failed"
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
		|| die "apt-get install $* failed"
}

# stamp_of FILE...: what an install depends on, as one line.
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

deps_python() {
	command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
	local d=$DIR/python venv=$DIR/python/.venv want
	want="$(stamp_of "$d/requirements.txt") $(python3 --version 2>&1)"
	if [[ -x $venv/bin/python && -f $venv/.hotswap-stamp && "$(<"$venv/.hotswap-stamp")" == "$want" ]]; then
		log "python: python/.venv is current"
		return
	fi
	log "python: creating python/.venv and installing python/requirements.txt"
	rm -rf "$venv"
	if ! python3 -m venv "$venv" 2>/dev/null; then
		rm -rf "$venv"
		apt_install python3-venv
		python3 -m venv "$venv" || die "python3 -m venv failed"
	fi
	"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$d/requirements.txt" \
		|| die "pip install -r test/clients/python/requirements.txt failed"
	printf '%s\n' "$want" >"$venv/.hotswap-stamp"
}

deps_node() {
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		apt_install nodejs npm
	fi
	local d=$DIR/node want
	want="$(stamp_of "$d/package.json" "$d/package-lock.json") node-$(node --version)"
	if [[ -d $d/node_modules/ioredis && -f $d/node_modules/.hotswap-stamp && "$(<"$d/node_modules/.hotswap-stamp")" == "$want" ]]; then
		log "node: node/node_modules is current"
		return
	fi
	log "node: npm ci in node/"
	(cd "$d" && npm ci --silent --no-audit --no-fund) || die "npm ci in test/clients/node failed"
	printf '%s\n' "$want" >"$d/node_modules/.hotswap-stamp"
}

deps_java() {
	local missing=()
	command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
	command -v mvn >/dev/null 2>&1 || missing+=(maven)
	((${#missing[@]} == 0)) || apt_install "${missing[@]}"
	local d=$DIR/java want
	want="$(cd "$d" && stamp_of pom.xml $(find src -type f -name '*.java' | LC_ALL=C sort)) $(java -version 2>&1 | head -1)"
	if [[ -f $d/target/hotswap-clients.jar && -f $d/target/.hotswap-stamp && "$(<"$d/target/.hotswap-stamp")" == "$want" ]]; then
		log "java: java/target/hotswap-clients.jar is current"
		return
	fi
	log "java: mvn package in java/ (offline first, then online if something is missing)"
	# clean: target/lib must hold exactly the pinned jars, and a CDS archive from an older
	# jar is useless (clients_test.go makes a new one on its first run).
	if ! (cd "$d" && mvn -q -B -Dstyle.color=never -o clean package >/dev/null 2>&1); then
		(cd "$d" && mvn -q -B -Dstyle.color=never clean package) || die "mvn package in test/clients/java failed"
	fi
	printf '%s\n' "$want" >"$d/target/.hotswap-stamp"
}

parts=("$@")
((${#parts[@]})) || parts=(python node java)
for p in "${parts[@]}"; do
	case $p in
	python | node | java) "deps_$p" ;;
	*) die "unknown part '$p' (want python, node or java)" ;;
	esac
done
log "done in $((SECONDS - T0))s"
