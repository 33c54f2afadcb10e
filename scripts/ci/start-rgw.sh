#!/usr/bin/env bash
# Starts a throwaway Ceph RADOS Gateway (a real S3 server) on 127.0.0.1 for the S3 tests, then prints
#   export S3_TEST_ENDPOINT=... S3_TEST_ACCESS_KEY_ID=... S3_TEST_SECRET_ACCESS_KEY=...
# to stdout, or writes those lines to the file named by $1. Progress goes to stderr.
#
# One monitor, one OSD on memstore (data lives in RAM and is lost on stop), pool size 1, no cephx, the
# beast frontend. Everything (config, logs, pid files, monitor store) lives under $RGW_DIR, a temp dir.
# Running it again while the gateway answers just prints the lines again. Stop with scripts/ci/stop-rgw.sh.
#
# Usage in .ci/run:
#   bash scripts/ci/start-rgw.sh /tmp/rgw.env && . /tmp/rgw.env
# Environment: RGW_DIR (default ${TMPDIR:-/tmp}/ci-rgw), RGW_PORT (default 7480),
#   RGW_WAIT_SECONDS (default 120), RGW_SKIP_INSTALL=1 to skip apt-get.
set -euo pipefail

RGW_DIR="${RGW_DIR:-${TMPDIR:-/tmp}/ci-rgw}"
RGW_PORT="${RGW_PORT:-7480}"
RGW_WAIT_SECONDS="${RGW_WAIT_SECONDS:-120}"
ACCESS_KEY="ci-test-access-key"
SECRET_KEY="ci-test-secret-key-0123456789abcdef"
ENDPOINT="http://127.0.0.1:${RGW_PORT}"
MON_ADDR="[v2:127.0.0.1:3300,v1:127.0.0.1:6789]"
CONF="${RGW_DIR}/ceph.conf"
OUT="${1:-}"

log() { echo "start-rgw: [${SECONDS}s] $*" >&2; }

fail() {
  log "FAILED: $*"
  for f in "${RGW_DIR}"/log/*.log; do
    [ -f "$f" ] || continue
    echo "---- last lines of $f" >&2
    tail -n 20 "$f" >&2
  done
  exit 1
}

emit() {
  local lines
  lines="export S3_TEST_ENDPOINT=${ENDPOINT}
export S3_TEST_ACCESS_KEY_ID=${ACCESS_KEY}
export S3_TEST_SECRET_ACCESS_KEY=${SECRET_KEY}
export S3_TEST_REGION=us-east-1"
  if [ -n "$OUT" ]; then
    printf '%s\n' "$lines" >"$OUT"
    log "wrote ${OUT}"
  else
    printf '%s\n' "$lines"
  fi
}

# Any HTTP answer from the frontend counts (an anonymous ListBuckets gets a 200 or 403 in XML).
s3_answers() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${ENDPOINT}/" 2>/dev/null || true)"
  [ -n "$code" ] && [ "$code" != "000" ]
}

# Waits up to $2 seconds for the command $1 to succeed; fails with $3.
wait_for() {
  local deadline=$((SECONDS + $2))
  until eval "$1" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$3 (waited $2 s; logs in ${RGW_DIR}/log)"
    sleep 1
  done
}

running_pid() {
  local pidfile="${RGW_DIR}/run/$1.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

if running_pid client.rgw.ci && s3_answers; then
  log "already running at ${ENDPOINT}"
  emit
  exit 0
fi
if s3_answers; then
  fail "something else already answers on ${ENDPOINT}; set RGW_PORT to a free port"
fi

start_time=$SECONDS

if [ "${RGW_SKIP_INSTALL:-0}" != "1" ] && ! command -v radosgw >/dev/null 2>&1; then
  log "installing ceph-mon ceph-osd radosgw with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt_log="${TMPDIR:-/tmp}/ci-rgw-apt.log"
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends ceph-mon ceph-osd radosgw \
    ceph-common curl; } >"$apt_log" 2>&1 || { tail -n 30 "$apt_log" >&2; fail "apt-get install (log: ${apt_log})"; }
fi
for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph curl; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done
install_done=$SECONDS

# A stale tree from an earlier run (memstore lost its data when its OSD stopped): stop what is left and
# start afresh.
if [ -d "$RGW_DIR" ]; then
  log "removing stale ${RGW_DIR}"
  for name in client.rgw.ci osd.0 mon.a; do
    if running_pid "$name"; then kill "$(cat "${RGW_DIR}/run/${name}.pid")" 2>/dev/null || true; fi
  done
  sleep 1
  rm -rf "$RGW_DIR"
fi
mkdir -p "${RGW_DIR}"/{mon,osd,run,log,rgw,crash}

FSID="$(cat /proc/sys/kernel/random/uuid)"
cat >"$CONF" <<EOF
[global]
fsid = ${FSID}
mon initial members = a
mon host = ${MON_ADDR}
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
# radosgw asks for a 'secure' monitor connection, which needs cephx: allow 'crc' too.
ms mon client mode = crc secure
public network = 127.0.0.0/8
run dir = ${RGW_DIR}/run
crash dir = ${RGW_DIR}/crash
pid file = ${RGW_DIR}/run/\$name.pid
admin socket = ${RGW_DIR}/run/\$name.asok
log file = ${RGW_DIR}/log/\$name.log
keyring = ${RGW_DIR}/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false

[mon]
mon data = ${RGW_DIR}/mon/\$id

[osd]
osd data = ${RGW_DIR}/osd/\$id
osd objectstore = memstore
memstore device bytes = 2147483648
osd max object name len = 460
osd max object namespace len = 64

[client.rgw.ci]
rgw data = ${RGW_DIR}/rgw
rgw frontends = beast endpoint=127.0.0.1:${RGW_PORT}
rgw dns name = 127.0.0.1
rgw enable usage log = false
EOF

log "monitor"
monmaptool --create --fsid "$FSID" --addv a "$MON_ADDR" "${RGW_DIR}/monmap" >/dev/null ||
  fail "monmaptool"
ceph-mon -c "$CONF" --mkfs -i a --monmap "${RGW_DIR}/monmap" 2>>"${RGW_DIR}/log/setup.log" ||
  fail "ceph-mon --mkfs"
ceph-mon -c "$CONF" -i a || fail "ceph-mon did not start"
wait_for "ceph -c '$CONF' --connect-timeout 2 mon stat" 30 "the monitor does not answer"

log "OSD (memstore)"
OSD_UUID="$(cat /proc/sys/kernel/random/uuid)"
OSD_ID="$(ceph -c "$CONF" osd new "$OSD_UUID")" || fail "ceph osd new"
[ "$OSD_ID" = "0" ] || fail "expected OSD id 0, got ${OSD_ID}"
mkdir -p "${RGW_DIR}/osd/0"
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" 2>>"${RGW_DIR}/log/setup.log" ||
  fail "ceph-osd --mkfs"
ceph-osd -c "$CONF" -i 0 2>>"${RGW_DIR}/log/setup.log" || fail "ceph-osd did not start"
wait_for "ceph -c '$CONF' osd stat | grep -q '1 up'" 60 "the OSD did not come up"

log "RADOS Gateway on ${ENDPOINT}"
radosgw -c "$CONF" -n client.rgw.ci || fail "radosgw did not start"
wait_for s3_answers "$RGW_WAIT_SECONDS" "the S3 endpoint ${ENDPOINT} does not answer"

log "test user"
wait_for "radosgw-admin -c '$CONF' user info --uid=ci-test || radosgw-admin -c '$CONF' user create \
  --uid=ci-test --display-name='CI test user' --access-key='$ACCESS_KEY' --secret='$SECRET_KEY'" 60 \
  "radosgw-admin user create"

log "ready in $((SECONDS - start_time)) s (install $((install_done - start_time)) s)"
emit
