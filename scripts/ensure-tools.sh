#!/usr/bin/env bash
# Installs what the tests need, when missing: strip (binutils) for the Linux build, osslsigncode for
# worker.exe, tmux for the console test, openssl for the HTTPS tests' certificates. Runs before
# `npm test` (npm's pretest), so a fresh machine needs nothing else. Installing needs root (or
# sudo); without it, it says what to install and stops.
#
# --redis (before `npm run bench:peers`): redis-server, for BullMQ's side of the bench.
#
# --wine (before `npm run test:windows`): Wine 10 in a Debian 13 (trixie) chroot, because Debian
# 12's Wine 8 cannot start Node 24+ and the tests run the real Node 26 worker.exe (docs/windows.md).
# The chroot lives in a fixed folder outside the repository (HIVE_WINE_ROOT, default
# /var/cache/hive-worker/wine10-trixie) so a fresh clone on the same machine reuses it; a fresh
# machine builds it in ≈ 4 min (≈ 2.4 GB). Every run re-makes the mounts that are missing (after a
# reboot) and does nothing else. --screenshots also installs Xvfb and ImageMagick in the chroot
# (scripts/windows-screenshots.sh). Rules learnt the hard way:
# - the chroot gets a PRIVATE tmpfs /dev with its own device nodes, never a bind mount of the
#   host's /dev: deleting a chroot with the host's /dev mounted in it deletes the host's devices;
# - a half-made chroot is only deleted when nothing is mounted under it;
# - "is wine there" is asked inside the chroot (its /usr/bin/wine is a symlink that does not
#   resolve from outside), and recorded in a marker file once apt has finished.
set -euo pipefail
mode="${1:-}"
tools=(strip:binutils osslsigncode:osslsigncode tmux:tmux openssl:openssl)
if [ "$mode" = "--wine" ] || [ "$mode" = "--screenshots" ]; then tools+=(debootstrap:debootstrap); fi
if [ "$mode" = "--redis" ]; then tools+=(redis-server:redis-server); fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; fi
fi

need=()
for tool in "${tools[@]}"; do
  command -v "${tool%%:*}" >/dev/null || PATH="$PATH:/usr/sbin:/sbin" command -v "${tool%%:*}" >/dev/null ||
    need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] && [ -z "$sudo" ]; then
    echo "the tests need these Debian packages: ${need[*]} (apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "== installing ${need[*]} (Debian packages the tests need)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
{ [ -z "$mode" ] || [ "$mode" = "--redis" ]; } && exit 0

if [ "$(id -u)" != 0 ]; then
  # chroot and mount need root; re-run this part as root.
  if [ -n "$sudo" ]; then exec sudo --preserve-env=HIVE_WINE_ROOT bash "$0" "$@"; fi
  echo "npm run test:windows needs root (chroot, mount) to set up Wine 10" >&2
  exit 1
fi
export PATH="$PATH:/usr/sbin:/sbin"
ROOT="${HIVE_WINE_ROOT:-/var/cache/hive-worker/wine10-trixie}"
MARKER="$ROOT/.hive-wine-ready"
SHOTS_MARKER="$ROOT/.hive-screenshots-ready"
mkdir -p "$(dirname "$ROOT")"
# One setup at a time: CI and an engineer (or two test files) may start this together.
exec 9>"$(dirname "$ROOT")/.$(basename "$ROOT").lock"
flock 9

is_mounted() { awk -v p="$1" '$2 == p { found = 1 } END { exit !found }' /proc/mounts; }
mounted_under() { awk -v p="$ROOT" 'index($2, p "/") == 1 || $2 == p' /proc/mounts; }

# The mounts a working chroot needs; each is made only when missing (after a reboot all are).
mount_all() {
  is_mounted "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
  if ! is_mounted "$ROOT/dev"; then
    mkdir -p "$ROOT/dev"
    mount -t tmpfs -o mode=755,size=1m tmpfs "$ROOT/dev"
    for node in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
      set -- $node
      mknod -m 666 "$ROOT/dev/$1" c "$2" "$3"
    done
    mkdir "$ROOT/dev/pts" "$ROOT/dev/shm"
    ln -s pts/ptmx "$ROOT/dev/ptmx"
    ln -s /proc/self/fd "$ROOT/dev/fd"
    ln -s /proc/self/fd/0 "$ROOT/dev/stdin"
    ln -s /proc/self/fd/1 "$ROOT/dev/stdout"
    ln -s /proc/self/fd/2 "$ROOT/dev/stderr"
  fi
  is_mounted "$ROOT/dev/pts" || mount -t devpts -o newinstance,ptmxmode=0666 devpts "$ROOT/dev/pts"
  is_mounted "$ROOT/dev/shm" || mount -t tmpfs tmpfs "$ROOT/dev/shm"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
}

# The Debian mirror this machine's apt already uses (its main archive, not the security one).
debian_mirror() {
  local uri
  uri=$(apt-get indextargets --format '$(ORIGIN)|$(LABEL)|$(REPO_URI)' 2>/dev/null |
    awk -F'|' '$1 == "Debian" && $2 == "Debian" { print $3; exit }')
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
      grep -oE '(https?|file)://[^ ]+' | grep -v security | head -n1 || true)
  fi
  [ -n "$uri" ] || { echo "no Debian mirror found in apt's source list" >&2; exit 1; }
  echo "$uri"
}

if [ ! -f "$MARKER" ]; then
  if [ -e "$ROOT" ]; then
    # Left half-made by an interrupted run: unmount everything under it before deleting it.
    while read -r point; do umount -R "$point" 2>/dev/null || true; done < <(mounted_under | awk '{ print $2 }' | sort -r)
    if [ -n "$(mounted_under)" ]; then
      echo "cannot rebuild $ROOT: still mounted under it:" >&2
      mounted_under >&2
      exit 1
    fi
    rm -rf --one-file-system "$ROOT"
  fi
  mirror=$(debian_mirror)
  echo "== building the Wine 10 chroot (Debian 13) in $ROOT from $mirror (≈ 4 min, ≈ 2.4 GB; once per machine)"
  started=$SECONDS
  debootstrap --variant=minbase --include=ca-certificates trixie "$ROOT" "$mirror" >"$ROOT.debootstrap.log" 2>&1 ||
    { tail -n 20 "$ROOT.debootstrap.log" >&2; exit 1; }
  mount_all
  chroot "$ROOT" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wine64 wine >/dev/null'
  chroot "$ROOT" sh -c 'command -v wine >/dev/null' || { echo "wine is missing in $ROOT after apt-get" >&2; exit 1; }
  chroot "$ROOT" wine --version >"$MARKER"
  echo "== $(cat "$MARKER") ready in $ROOT ($((SECONDS - started)) s)"
fi
mount_all

if [ "$mode" = "--screenshots" ] && [ ! -f "$SHOTS_MARKER" ]; then
  echo "== installing Xvfb, xdotool and ImageMagick in $ROOT (for scripts/windows-screenshots.sh)"
  chroot "$ROOT" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xvfb xdotool imagemagick fonts-dejavu-core >/dev/null'
  touch "$SHOTS_MARKER"
fi
