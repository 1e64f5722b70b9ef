#!/usr/bin/env bash
# `make test`: the whole suite in two lanes that run at the same time.
#   live:    the tests that boot hosts in podman (marker `podman`: fire drills, podman stacks), one after the other
#            as always: they share images, subnets and module fixtures, and spend most of their time waiting on hosts;
#   beside:  every other test (unit, engine, pack, agreement: about ten minutes of CPU; and the podman tests that
#            boot no host, marker `beside_live`: the auditor's image), then the tests on the local OpenStack clouds
#            (marker `openstack`: their own network namespaces and container names, never a podman network or
#            subnet of the live lane), beside the live lane instead of after it.
# The marker expressions partition the suite: every collected test runs in exactly one of the three pytest runs.
# The live lane prints as it goes; the beside lane's output is printed when both are done. Exit status: non-zero
# when any run failed. Extra arguments go to every pytest run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PY=${PY:-.venv/bin/python}
LIVE="podman and not openstack and not beside_live"
CLOUDS="openstack and not beside_live"
OFFLINE="not ((podman or openstack) and not beside_live)"

work=$(mktemp -d -t rs-test-lanes.XXXXXX)
beside_pid=
stop() {
  # the beside lane is a process group of its own (setsid): ended with its pytest runs (a background job of a
  # script ignores SIGINT, so TERM); the local clouds' watchdog removes clouds whose owner is gone
  [ -n "$beside_pid" ] && kill -TERM -- "-$beside_pid" 2>/dev/null && wait "$beside_pid" 2>/dev/null
  rm -rf "$work"
  exit 130
}
trap stop INT TERM

# Each run has its own temporary root: pytest wipes a --basetemp it is given, never another run's.
# The beside lane: the offline tests, then the local clouds' (5: a run that collected nothing; all empty fails);
# a script for `bash -c`, expanded there (its variables are exported below).
# shellcheck disable=SC2016
beside='
  "$PY" -m pytest -m "$OFFLINE" --basetemp "$work/offline" "$@"; offline=$?
  echo; echo "==================== the local clouds ($CLOUDS) ===================="
  "$PY" -m pytest -m "$CLOUDS" --basetemp "$work/clouds" "$@"; clouds=$?
  echo "[test-lanes] offline exit $offline, local clouds exit $clouds"
  [ "$offline" -eq 5 ] && [ "$clouds" -eq 5 ] && exit 5
  [ "$offline" -eq 5 ] && offline=0; [ "$clouds" -eq 5 ] && clouds=0
  [ "$offline" -eq 0 ] && [ "$clouds" -eq 0 ]'
export PY OFFLINE CLOUDS work
setsid -w bash -c "$beside" beside "$@" >"$work/offline.log" 2>&1 &
beside_pid=$!
echo "[test-lanes] beside lane (offline, then the local clouds): pid $beside_pid, output shown when it is done ($work/offline.log)"

"$PY" -m pytest -m "$LIVE" --basetemp "$work/live" "$@"
live_rc=$?
wait "$beside_pid"
beside_rc=$?
beside_pid=
# 5: a lane collected nothing (arguments that select another lane's tests only); every lane empty still fails
if [ "$live_rc" -eq 5 ] && [ "$beside_rc" -ne 5 ]; then live_rc=0; fi
if [ "$beside_rc" -eq 5 ] && [ "$live_rc" -ne 5 ]; then beside_rc=0; fi

echo
echo "==================== the beside lane ($OFFLINE, then $CLOUDS) ===================="
cat "$work/offline.log"
rm -rf "$work"
echo "[test-lanes] live lane exit $live_rc, beside lane exit $beside_rc"
[ "$live_rc" -eq 0 ] && [ "$beside_rc" -eq 0 ]
