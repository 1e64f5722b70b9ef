#!/usr/bin/env bash
# `make test`: the whole suite in two lanes that run at the same time.
#   live:    the tests that boot hosts or clouds (markers `podman`, `openstack`), one after the other as always: they
#            share images, subnets and module fixtures, and spend most of their hour waiting on hosts;
#   offline: every other test (unit, engine, pack, agreement: about ten minutes of CPU) and the podman tests that
#            boot no host (marker `beside_live`: the auditor's image), beside the live lane instead of after it.
# The two marker expressions are complements: every collected test runs in exactly one lane. The live lane prints
# as it goes; the offline lane's output is printed when both are done. Exit status: non-zero when either lane
# failed. Extra arguments go to both pytest runs.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PY=${PY:-.venv/bin/python}
LIVE="(podman or openstack) and not beside_live"

work=$(mktemp -d -t rs-test-lanes.XXXXXX)
offline_pid=
stop() {
  [ -n "$offline_pid" ] && kill -INT "$offline_pid" 2>/dev/null && wait "$offline_pid" 2>/dev/null
  rm -rf "$work"
  exit 130
}
trap stop INT TERM

# each lane has its own temporary root: pytest wipes a --basetemp it is given, never the other lane's
"$PY" -m pytest -m "not ($LIVE)" --basetemp "$work/offline" "$@" >"$work/offline.log" 2>&1 &
offline_pid=$!
echo "[test-lanes] offline lane: pid $offline_pid, output shown when it is done ($work/offline.log)"

"$PY" -m pytest -m "$LIVE" --basetemp "$work/live" "$@"
live_rc=$?
wait "$offline_pid"
offline_rc=$?
offline_pid=
# 5: a lane collected nothing (arguments that select one lane's tests only); both empty is still a failure
if [ "$live_rc" -eq 5 ] && [ "$offline_rc" -ne 5 ]; then live_rc=0; fi
if [ "$offline_rc" -eq 5 ] && [ "$live_rc" -ne 5 ]; then offline_rc=0; fi

echo
echo "==================== the offline lane (not $LIVE) ===================="
cat "$work/offline.log"
rm -rf "$work"
echo "[test-lanes] live lane exit $live_rc, offline lane exit $offline_rc"
[ "$live_rc" -eq 0 ] && [ "$offline_rc" -eq 0 ]
