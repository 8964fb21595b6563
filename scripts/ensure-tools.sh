#!/usr/bin/env bash
# Installs the Debian packages the tests need, when missing: strip (binutils) for the Linux build,
# osslsigncode for worker.exe, tmux for the console test, openssl for the HTTPS tests'
# certificates; with --wine, wine64 for `npm run test:windows`; with --redis, redis-server for
# `npm run bench:peers` (BullMQ's side). Runs before `npm test` (npm's pretest), so a fresh machine
# needs nothing else. Installing needs root (or sudo); without it, it says what to install and stops.
set -euo pipefail
tools=(strip:binutils osslsigncode:osslsigncode tmux:tmux openssl:openssl)
if [ "${1:-}" = "--wine" ]; then tools+=(wine:wine64); fi
if [ "${1:-}" = "--redis" ]; then tools+=(redis-server:redis-server); fi
need=()
for tool in "${tools[@]}"; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else
    echo "the tests need these Debian packages: ${need[*]} (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
echo "== installing ${need[*]} (Debian packages the tests need)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
