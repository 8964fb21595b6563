#!/bin/sh
# hive-worker updater (Linux and other POSIX systems).
#
# Started detached by the worker, from the NEW release, after the release was verified. Its
# inputs come as environment variables (src/update/handoff.ts), so any folder name works:
#   HIVE_UPDATER_PID             the old worker's pid
#   HIVE_UPDATER_TARGET          the installed executable
#   HIVE_UPDATER_NEW             the new executable
#   HIVE_UPDATER_DATA            the data folder
#   HIVE_UPDATER_VERSION         the new version
#   HIVE_UPDATER_HEALTH_TIMEOUT  seconds the new version has to report healthy (default 60)
#   HIVE_UPDATER_SUPERVISOR      `systemd`, `terminal` or `none`
# Workers before 1.1 passed them as arguments instead, in that order:
#   updater.sh <old pid> <installed executable> <new executable> <data dir> <new version> <health timeout s> [systemd]
# 1. waits for the old worker to exit;  2. puts the new executable in place, keeping exactly one
# backup (<executable>.old);  3. starts it;  4. waits for it to write <data>/update/healthy with its
# version (after its first good exchange with the server);  5. if it does not in time: stops it,
# restores the backup, writes <data>/update/failed-<version> and starts the old one again, which
# then skips that version for a while. Every step goes to <data>/logs/updater.log.
#
# With the supervisor `systemd` (the old worker ran under the systemd user unit written by
# `worker --install`), "start" in steps 3 and 5 means `systemctl --user restart hive-worker.service`
# so the worker comes back under the unit; before a rollback the unit is stopped. The unit's
# KillMode=process keeps this script alive through those restarts (docs/updating.md, "Started at
# login"). If systemctl fails, the executable is started directly, as without the argument.
#
# With the supervisor `terminal` (the old worker was started in a terminal), this script IS the old
# worker's process: the worker exec'd it as it exited (src/update/handoff.ts), so it holds the
# terminal. It runs the new version as its child in the foreground, where Ctrl+C reaches it, and
# stays as its parent, passing on its exit status; on a rollback it execs the old version, which
# then has the terminal (docs/updating.md, "In a terminal").
#
# Nothing read from a file is ever run or used unchecked: a pid must be digits, a state one of
# fixed words, and a pid from worker.lock is signalled only when the process is the one the lock
# names (same boot id and start time, as src/platform/lock.ts judges it) and runs $TARGET.
set -u

OLD_PID=${HIVE_UPDATER_PID:-${1:-}}
TARGET=${HIVE_UPDATER_TARGET:-${2:-}}
NEW=${HIVE_UPDATER_NEW:-${3:-}}
DATA=${HIVE_UPDATER_DATA:-${4:-}}
VERSION=${HIVE_UPDATER_VERSION:-${5:-}}
HEALTH_TIMEOUT=${HIVE_UPDATER_HEALTH_TIMEOUT:-${6:-60}}
SUPERVISOR=${HIVE_UPDATER_SUPERVISOR:-${7:-none}}
# The workers this script starts must not see them.
unset HIVE_UPDATER_PID HIVE_UPDATER_TARGET HIVE_UPDATER_NEW HIVE_UPDATER_DATA HIVE_UPDATER_VERSION \
  HIVE_UPDATER_HEALTH_TIMEOUT HIVE_UPDATER_SUPERVISOR HIVE_UPDATER_SCRIPT
if [ -z "$OLD_PID" ] || [ -z "$TARGET" ] || [ -z "$NEW" ] || [ -z "$DATA" ] || [ -z "$VERSION" ]; then
  echo "updater.sh: HIVE_UPDATER_PID, _TARGET, _NEW, _DATA and _VERSION must be set" >&2
  exit 2
fi
UNIT=hive-worker.service

digits() {
  case $1 in '' | *[!0-9]*) return 1 ;; *) [ ${#1} -le 10 ] ;; esac
}
case $SUPERVISOR in systemd | terminal | none) ;; *) SUPERVISOR=none ;; esac
# A version names files (failed-<version>): semver characters only, never a path.
case $VERSION in *[!0-9A-Za-z.+-]* | .*) VERSION= ;; esac
if ! digits "$OLD_PID" || ! digits "$HEALTH_TIMEOUT" || [ -z "$VERSION" ]; then
  echo "updater.sh: HIVE_UPDATER_PID and _HEALTH_TIMEOUT must be digits, _VERSION a version" >&2
  exit 2
fi
if [ "$SUPERVISOR" = terminal ]; then
  # The terminal's input, kept for the workers started below (a background job gets /dev/null).
  exec 3<&0
  interrupted=
  # Ctrl+C reaches the worker directly (same foreground job); this script only notes it. A TERM
  # or HUP sent to this process is passed on to the worker.
  trap 'interrupted=1' INT
  trap 'interrupted=1; [ -n "${started_pid:-}" ] && kill -TERM "$started_pid" 2>/dev/null' TERM HUP
fi

UPDATE_DIR="$DATA/update"
LOG="$DATA/logs/updater.log"
BACKUP="$TARGET.old"
mkdir -p "$DATA/logs" "$UPDATE_DIR"

log() {
  printf '%s updater[%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$*" >>"$LOG"
}

# A refused rename is retried 5 times, 1 s apart. Unlike Windows (antivirus, a dying process;
# updater.bat retries for 60 s), nothing on Linux holds a file against a rename: what refuses one —
# a mount point (EBUSY), permissions, a read-only filesystem — does not go away, and every second
# spent retrying is a second without a worker. The last error is kept in $mv_error.
retry_mv() {
  tries=0
  until mv_error=$(mv -f "$1" "$2" 2>&1); do
    tries=$((tries + 1))
    if [ "$tries" -ge 5 ]; then
      log "$mv_error"
      return 1
    fi
    sleep 1
  done
}

# Starts the installed executable and sets started_pid ('' if it is already gone). Under systemd:
# `restart`, not `start`, so whatever systemd may have started since the old worker exited (an
# on-failure restart, a user's `start`) is stopped before the executable is run again.
start_worker() {
  if [ "$SUPERVISOR" = systemd ]; then
    if systemctl --user restart "$UNIT" 2>>"$LOG"; then
      started_pid=$(systemctl --user show --property=MainPID --value "$UNIT" 2>>"$LOG")
      if [ "$started_pid" = 0 ]; then started_pid=; fi
      log "restarted $UNIT: $TARGET (pid ${started_pid:-none, it exited at once})"
      return
    fi
    log "systemctl --user restart $UNIT failed; starting $TARGET outside the unit instead"
  fi
  if [ "$SUPERVISOR" = terminal ]; then
    # In this terminal's foreground job, as this script's child (see the top).
    "$TARGET" <&3 3<&- &
    started_pid=$!
    log "started $TARGET in the terminal (pid $started_pid)"
    return
  fi
  # Detached from this script: it goes on after the updater exits.
  if command -v setsid >/dev/null 2>&1; then
    setsid "$TARGET" </dev/null >/dev/null 2>&1 &
  else
    nohup "$TARGET" </dev/null >/dev/null 2>&1 &
  fi
  started_pid=$!
  log "started $TARGET (pid $!)"
}

# After a failed update, the worker the rollback must not leave running: started here, or by
# systemd; in a terminal, the old version then takes this process and its terminal over.
start_last() {
  if [ "$SUPERVISOR" = terminal ]; then
    log "running $TARGET in the terminal"
    exec "$TARGET" <&3 3<&-
  fi
  start_worker
}

# Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), counted after the last
# ')' since the command name may hold spaces and parentheses; '' when there is no such process.
start_ticks() {
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  set -f
  # shellcheck disable=SC2086 # split on purpose: fields 3.. of the stat line
  set -- ${stat##*) }
  set +f
  if [ $# -ge 20 ]; then shift 19 && digits "$1" && printf '%s' "$1"; fi
}

# The pid in worker.lock, printed only when that process is the worker the lock names: pid digits,
# the lock's boot id and start time those of this boot and that pid now, and it runs $TARGET. A
# lock from an older worker without them, a symlink, or anything else: nothing printed.
locked_worker_pid() {
  lock_file="$DATA/worker.lock"
  if [ -L "$lock_file" ] || [ ! -f "$lock_file" ]; then return 0; fi
  line=$(head -c 4096 "$lock_file" 2>/dev/null | head -n 1)
  pid=$(printf '%s\n' "$line" | sed -n 's/^{"pid":\([0-9]\{1,10\}\),.*/\1/p')
  boot=$(printf '%s\n' "$line" | sed -n 's/.*"bootId":"\([0-9a-f-]\{1,64\}\)".*/\1/p')
  ticks=$(printf '%s\n' "$line" | sed -n 's/.*"startTicks":"\([0-9]\{1,20\}\)".*/\1/p')
  if ! digits "$pid" || [ -z "$boot" ] || [ -z "$ticks" ]; then
    log "worker.lock does not name a worker this updater can tell apart; nothing killed"
    return 0
  fi
  if [ "$boot" != "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" ] ||
    [ "$ticks" != "$(start_ticks "$pid")" ]; then
    return 0 # that worker is gone; the pid, if alive, is another process's now
  fi
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
  if [ "${exe% (deleted)}" != "$(readlink -f "$TARGET" 2>/dev/null)" ]; then
    log "pid $pid in worker.lock runs ${exe:-an unknown program}, not $TARGET; not killed"
    return 0
  fi
  printf '%s' "$pid"
}

# Whether pid $1 is still the process that started at $2 (ticks); without /proc, by the pid alone.
alive() {
  if [ -z "$1" ]; then return 1; fi
  if [ ! -r /proc/self/stat ]; then kill -0 "$1" 2>/dev/null && return 0 || return 1; fi
  [ -n "$2" ] && [ "$(start_ticks "$1")" = "$2" ]
}

# Stops pid $1 (TERM, then KILL after 2 s) while it is the process that started at $2: never
# another process that got the number meanwhile.
stop_process() {
  if ! alive "$1" "$2"; then return 0; fi
  kill -TERM "$1" 2>/dev/null
  sleep 2
  if alive "$1" "$2"; then kill -KILL "$1" 2>/dev/null; fi
}

give_up() {
  log "update to $VERSION failed: $1"
  printf '%s\n' "$1" >"$UPDATE_DIR/failed-$VERSION"
}

if [ "$OLD_PID" = "$$" ]; then
  log "installing $VERSION into $TARGET (in the old worker's terminal, as pid $$)"
else
  log "installing $VERSION into $TARGET (waiting for pid $OLD_PID to exit)"
fi

waited=0
# In a terminal the old worker's pid is this script's own: it has exited into it.
while [ "$OLD_PID" != "$$" ] && kill -0 "$OLD_PID" 2>/dev/null; do
  waited=$((waited + 1))
  if [ "$waited" -ge 1200 ]; then
    give_up "the old worker (pid $OLD_PID) did not exit within 120 s; nothing was changed"
    exit 1
  fi
  sleep 0.1
done
log "old worker exited"

# Copy beside the target first (same folder, same filesystem), so the swap is two renames.
if ! cp "$NEW" "$TARGET.new" 2>>"$LOG" || ! chmod 755 "$TARGET.new" 2>>"$LOG" ||
  [ "$(wc -c <"$NEW")" != "$(wc -c <"$TARGET.new")" ]; then
  rm -f "$TARGET.new"
  give_up "could not copy the new executable next to $TARGET (disk full?)"
  start_last
  exit 1
fi
rm -f "$BACKUP"
if ! retry_mv "$TARGET" "$BACKUP"; then
  rm -f "$TARGET.new"
  give_up "could not move $TARGET aside ($mv_error); nothing was changed"
  start_last
  exit 1
fi
if ! retry_mv "$TARGET.new" "$TARGET"; then
  why=$mv_error
  retry_mv "$BACKUP" "$TARGET"
  give_up "could not move the new executable into place ($why); the previous one was put back"
  start_last
  exit 1
fi
log "swapped: $TARGET is $VERSION, the previous one is $BACKUP"

rm -f "$UPDATE_DIR/healthy"
start_worker
new_pid=$started_pid
if [ "$SUPERVISOR" = systemd ] && ! digits "$new_pid"; then new_pid=; fi
new_ticks=
if [ -n "$new_pid" ]; then new_ticks=$(start_ticks "$new_pid"); fi

# In a terminal: waits for the worker, this script's child, and exits with its status.
follow_worker() {
  while :; do
    wait "$new_pid"
    status=$?
    # A trapped Ctrl+C interrupts `wait` (status > 128) while the worker is still finishing up.
    if [ "$status" -gt 128 ] && alive "$new_pid" "$new_ticks"; then continue; fi
    exit "$status"
  done
}

healthy=
waited=0
while [ "$waited" -lt $((HEALTH_TIMEOUT * 10)) ]; do
  if [ "$(head -c 256 "$UPDATE_DIR/healthy" 2>/dev/null)" = "$VERSION" ]; then
    healthy=1
    break
  fi
  if ! alive "$new_pid" "$new_ticks"; then break; fi
  waited=$((waited + 1))
  sleep 0.1
done
if [ -n "$healthy" ]; then
  log "$VERSION is healthy; update done"
  if [ "$SUPERVISOR" = terminal ]; then follow_worker; fi
  exit 0
fi
if [ "$SUPERVISOR" = terminal ] && [ -n "$interrupted" ]; then
  # Stopped by the user (Ctrl+C) before its first exchange: not a failure of the release.
  log "$VERSION was stopped before it reported healthy; it stays installed"
  follow_worker
fi

# Not healthy in time: roll back.
reason="$VERSION did not report healthy within $HEALTH_TIMEOUT s"
if ! alive "$new_pid" "$new_ticks"; then
  reason="$VERSION exited before reporting healthy"
fi
if [ "$SUPERVISOR" = systemd ]; then
  # Before the backup is moved back: ends a pending Restart= of the new version, so systemd does
  # not run the executable while it is being swapped. KillMode=process: this script stays.
  systemctl --user stop "$UNIT" 2>>"$LOG" || log "systemctl --user stop $UNIT failed"
fi
stop_process "$new_pid" "$new_ticks"
locked=$(locked_worker_pid)
if [ -n "$locked" ]; then stop_process "$locked" "$(start_ticks "$locked")"; fi
rm -f "$DATA/worker.lock"
if retry_mv "$BACKUP" "$TARGET"; then
  give_up "$reason; rolled back to the previous version"
else
  give_up "$reason; AND the backup could not be restored: $BACKUP is the previous version"
fi
start_last
exit 1
