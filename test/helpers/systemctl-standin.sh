#!/bin/sh
# Stand-in for `systemctl --user`, written out by test/helpers/systemd-standin.ts (which says why and
# what it emulates): systemd cannot run in this container.
set -u
STATE=__STATE__
UNIT_FILE=__UNIT_FILE__
echo "$*" >>"$STATE/calls.log"
if [ "${1:-}" != --user ]; then echo "stand-in systemctl: only --user is emulated" >&2; exit 1; fi
shift

main_pid() {
  pid=$(cat "$STATE/main.pid" 2>/dev/null)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; else echo 0; fi
}

start() {
  if [ "$(main_pid)" != 0 ]; then return 0; fi
  exe=$(sed -n 's/^ExecStart="\(.*\)"$/\1/p' "$UNIT_FILE" | sed 's/%%/%/g')
  dir=$(sed -n 's/^WorkingDirectory=//p' "$UNIT_FILE" | sed 's/%%/%/g')
  if [ ! -x "$exe" ]; then
    echo "Failed to execute $exe: not an executable (status=203/EXEC)" >>"$STATE/journal.log"
    return 1
  fi
  rm -f "$STATE/main.pid"
  # shellcheck disable=SC2046 # Environment= lines are single KEY=VALUE words here
  setsid sh -c '
    state=$1; cd "$2" || exit 200; shift 2
    env "$@" </dev/null >>"$state/journal.log" 2>&1 &
    pid=$!
    echo "$pid" >"$state/main.pid.tmp" && mv "$state/main.pid.tmp" "$state/main.pid"
    echo "$pid" >>"$state/starts.log"
    wait "$pid"
    echo "main process $pid exited, status=$?" >>"$state/journal.log"
  ' sh "$STATE" "$dir" $(sed -n 's/^Environment=//p' "$UNIT_FILE") \
    "INVOCATION_ID=standin$(date +%s%N)" "$exe" </dev/null >/dev/null 2>&1 &
  tries=0
  until [ -s "$STATE/main.pid" ]; do
    tries=$((tries + 1))
    if [ "$tries" -ge 100 ]; then echo "stand-in systemctl: start timed out" >&2; return 1; fi
    sleep 0.05
  done
}

stop() {
  pid=$(main_pid)
  if [ "$pid" = 0 ]; then return 0; fi
  kill -TERM "$pid"
  waited=0
  while kill -0 "$pid" 2>/dev/null; do
    waited=$((waited + 1))
    if [ "$waited" -ge 900 ]; then kill -KILL "$pid"; fi
    sleep 0.1
  done
}

case "${1:-} ${2:-}" in
  "daemon-reload "*) exit 0 ;;
  "enable --now") start ;;
  "enable "*) exit 0 ;;
  "disable --now") stop ;;
  "disable "*) exit 0 ;;
  "start "*) start ;;
  "stop "*) stop ;;
  "restart "*) stop && start ;;
  "show "*) main_pid ;;
  *) echo "stand-in systemctl: $* is not emulated" >&2; exit 1 ;;
esac
