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
#   HIVE_UPDATER_SUPERVISOR      `systemd` or `none`
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
  # Detached from this script: it goes on after the updater exits.
  if command -v setsid >/dev/null 2>&1; then
    setsid "$TARGET" </dev/null >/dev/null 2>&1 &
  else
    nohup "$TARGET" </dev/null >/dev/null 2>&1 &
  fi
  started_pid=$!
  log "started $TARGET (pid $!)"
}

# The running worker's pid, from its lock file ({"pid":1234,...}).
worker_pid() {
  sed -n 's/.*"pid":\([0-9][0-9]*\).*/\1/p' "$DATA/worker.lock" 2>/dev/null
}

give_up() {
  log "update to $VERSION failed: $1"
  printf '%s\n' "$1" >"$UPDATE_DIR/failed-$VERSION"
}

log "installing $VERSION into $TARGET (waiting for pid $OLD_PID to exit)"

waited=0
while kill -0 "$OLD_PID" 2>/dev/null; do
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
  start_worker
  exit 1
fi
rm -f "$BACKUP"
if ! retry_mv "$TARGET" "$BACKUP"; then
  rm -f "$TARGET.new"
  give_up "could not move $TARGET aside ($mv_error); nothing was changed"
  start_worker
  exit 1
fi
if ! retry_mv "$TARGET.new" "$TARGET"; then
  why=$mv_error
  retry_mv "$BACKUP" "$TARGET"
  give_up "could not move the new executable into place ($why); the previous one was put back"
  start_worker
  exit 1
fi
log "swapped: $TARGET is $VERSION, the previous one is $BACKUP"

rm -f "$UPDATE_DIR/healthy"
start_worker
new_pid=$started_pid

waited=0
while [ "$waited" -lt $((HEALTH_TIMEOUT * 10)) ]; do
  if [ "$(cat "$UPDATE_DIR/healthy" 2>/dev/null)" = "$VERSION" ]; then
    log "$VERSION is healthy; update done"
    exit 0
  fi
  if [ -z "$new_pid" ] || ! kill -0 "$new_pid" 2>/dev/null; then
    break
  fi
  waited=$((waited + 1))
  sleep 0.1
done

# Not healthy in time: roll back.
reason="$VERSION did not report healthy within $HEALTH_TIMEOUT s"
if [ -z "$new_pid" ] || ! kill -0 "$new_pid" 2>/dev/null; then
  reason="$VERSION exited before reporting healthy"
fi
if [ "$SUPERVISOR" = systemd ]; then
  # Before the backup is moved back: ends a pending Restart= of the new version, so systemd does
  # not run the executable while it is being swapped. KillMode=process: this script stays.
  systemctl --user stop "$UNIT" 2>>"$LOG" || log "systemctl --user stop $UNIT failed"
fi
for pid in "$new_pid" "$(worker_pid)"; do
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    sleep 2
    kill -KILL "$pid" 2>/dev/null
  fi
done
rm -f "$DATA/worker.lock"
if retry_mv "$BACKUP" "$TARGET"; then
  give_up "$reason; rolled back to the previous version"
else
  give_up "$reason; AND the backup could not be restored: $BACKUP is the previous version"
fi
start_worker
exit 1
