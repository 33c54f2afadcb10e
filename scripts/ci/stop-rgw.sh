#!/usr/bin/env bash
# Stops the RADOS Gateway, OSD and monitor started by scripts/ci/start-rgw.sh (by the pids in their pid
# files) and removes $RGW_DIR. Safe to run when nothing is running.
set -euo pipefail

RGW_DIR="${RGW_DIR:-${TMPDIR:-/tmp}/ci-rgw}"

for name in client.rgw.ci osd.0 mon.a; do
  pidfile="${RGW_DIR}/run/${name}.pid"
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    echo "stop-rgw: stopped ${name} (pid ${pid})" >&2
  fi
done
rm -rf "$RGW_DIR"
