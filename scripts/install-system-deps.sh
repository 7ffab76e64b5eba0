#!/usr/bin/env bash
# System packages the test suite uses that pip/cargo cannot provide:
#   redis-server  (the rate limiter's Redis backend tests start a real one)
#   wrk           (the proxy load rig, bench/proxy/run.py)
# Installs the missing ones from Debian's packages when run as root with apt-get;
# otherwise says what to install and carries on (tests that need them skip, naming why).
set -uo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; } \
    || echo "could not install ${missing[*]}: the tests that need them will skip"
else
  echo "missing system packages: ${missing[*]} (e.g. sudo apt-get install ${missing[*]}); the tests that need them will skip"
fi
exit 0
