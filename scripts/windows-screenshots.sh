#!/usr/bin/env bash
# What a user sees of worker.exe, as pictures for docs/windows.md and the README: the release
# worker.exe (built here, Node 26) under Wine 10 in the chroot (scripts/ensure-tools.sh
# --screenshots), against the reference server.
#   docs/images/worker-exe-running.png     the banner and a few tasks, in colour: worker.exe run in a
#     terminal (a pty, through `script`), where Wine passes on the colour codes it writes; the bytes
#     are drawn with Windows' console colours (scripts/console-picture.ts). Wine's own console
#     window shows those codes as text, which Windows 10/11 does not (docs/windows.md).
#   docs/images/worker-exe-bad-config.png  a fatal configuration error, waiting for Enter: started
#     by Wine's explorer.exe on an Xvfb screen — as Explorer starts it on a double-click, so it gets
#     a console window of its own — and that window photographed (it has no colours to lose).
# Run as root (chroot): bash scripts/windows-screenshots.sh. Nothing here is edited by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
bash scripts/ensure-tools.sh --screenshots
ROOT=${HIVE_WINE_ROOT:-/var/cache/hive-worker/wine10-trixie}
NODE=$REPO/node_modules/.bin/node
OUT=$REPO/docs/images
mkdir -p "$OUT" "$ROOT/tmp"
WORK=$(mktemp -d "$ROOT/tmp/hive-shots-XXXXXX")
INSIDE=/${WORK#"$ROOT"/}
DISPLAY_NO=:77
server_pid=""
in_chroot() {
  /usr/sbin/chroot "$ROOT" env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 WINEDEBUG=-all \
    WINEPREFIX="$INSIDE/prefix" XDG_RUNTIME_DIR="$INSIDE/run" DISPLAY="$DISPLAY_NO" "$@"
}
cleanup() {
  in_chroot wineserver -k 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -f "$WORK/xvfb.pid" ] && kill "$(cat "$WORK/xvfb.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -m 700 "$WORK/run"

echo "== building worker.exe (release, Node 26)"
"$NODE" scripts/build.ts --platform win32-x64 --out "$WORK/build" >/dev/null

PORT=$("$NODE" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$NODE" scripts/server.ts --port "$PORT" >"$WORK/server.log" 2>&1 &
server_pid=$!
API="http://127.0.0.1:$PORT/api/"
for _ in $(seq 50); do curl -sf "${API}admin/tasks" >/dev/null && break; sleep 0.2; done
enqueue() { curl -sf -X POST -H 'content-type: application/json' -d "$1" "${API}admin/tasks" >/dev/null; }

in_chroot sh -c "Xvfb $DISPLAY_NO -screen 0 1000x560x24 -nolisten tcp >/dev/null 2>&1 & echo \$! > $INSIDE/xvfb.pid"
sleep 1
in_chroot wineboot --init >/dev/null 2>&1
in_chroot wineserver --wait
# Installed where a user might put it: C:\Hive Worker\ (the window's title is this path).
INSTALL="$WORK/prefix/drive_c/Hive Worker"
mkdir "$INSTALL"
cp "$WORK/build/win32-x64/worker.exe" "$INSTALL/worker.exe"

# Explorer starts the program, as on a double-click.
double_click() {
  in_chroot sh -c "wine explorer /desktop=hive,1000x560 'C:\\Hive Worker\\worker.exe' >/dev/null 2>&1 &"
}
# Waits for worker.exe's console window (its title is the executable's path).
wait_window() {
  for _ in $(seq 60); do
    in_chroot xdotool search --name 'worker\.exe' >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "worker.exe's window did not appear" >&2
  return 1
}
shoot() {
  in_chroot import -window root "$INSIDE/shot.png"
  cp "$WORK/shot.png" "$OUT/$1"
  echo "== $OUT/$1"
}

printf '{ "SERVER_URL": "%s", "NO_TASK_SLEEP": 2 }\n' "$API" >"$INSTALL/worker.config.json"
enqueue '{"id":"hello","type":"echo","payload":{"greeting":"hello from the desktop"}}'
enqueue '{"id":"nap","type":"sleep","payload":{"ms":1500}}'
enqueue '{"id":"scrape","type":"prom_pars","payload":{"url":"'"${API}"'metrics"}}'
# In a terminal: Wine's console hands what worker.exe writes, colour codes and all, to the pty.
cat >"$WORK/console.sh" <<'INNER'
# Wider than any line: Wine's console counts the colour codes as columns when it wraps a line,
# Windows does not; scripts/console-picture.ts wraps at Windows' 120 columns instead.
stty cols 1000 rows 60
cd '/tmp' && TERM=xterm-256color exec wine 'C:\Hive Worker\worker.exe'
INNER
in_chroot sh -c "script -qfc 'sh $INSIDE/console.sh' $INSIDE/console.typescript </dev/null >/dev/null 2>&1 &"
for _ in $(seq 120); do
  [ "$(curl -sf "${API}admin/results" | grep -o '"taskId"' | wc -l)" -ge 3 ] && break
  sleep 0.5
done
sleep 2
in_chroot wineserver -k || true
sleep 1
"$NODE" scripts/console-picture.ts "$WORK/console.typescript" "$INSIDE/shot.png" | in_chroot xargs -0 magick
cp "$WORK/shot.png" "$OUT/worker-exe-running.png"
echo "== $OUT/worker-exe-running.png"

printf '{ "SERVER_URL": "%s", "NO_TASK_SLEEP": "abc" }\n' "$API" >"$INSTALL/worker.config.json"
double_click
wait_window
sleep 4
# Still there: the worker waits for Enter (src/platform/console-pause.ts) instead of closing.
wait_window
shoot worker-exe-bad-config.png
