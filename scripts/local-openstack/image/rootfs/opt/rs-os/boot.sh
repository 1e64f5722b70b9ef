#!/bin/bash
# PID 1 of a local OpenStack region: render the configs, start infra, initialise once, start the
# services, check them through the APIs, print READY, then reap children until TERM/INT.
# shellcheck source=/dev/null
. /opt/rs-os/lib.sh
shutdown_all() {
  say "stopping"
  rabbitmqctl stop >/dev/null 2>&1 || true          # rabbit runs in its own session (su -c)
  if [ $$ -eq 1 ]; then kill -TERM -1 2>/dev/null   # PID 1 of our own pid namespace
  else trap '' TERM; kill -TERM 0; fi               # otherwise only our own process group
  for _ in $(seq 60); do pgrep -x mariadbd >/dev/null || break; sleep 1; done
  say "stopped"
}
trap 'shutdown_all; exit 0' TERM INT
fail() { echo "FAILED: $*"; tail -n 40 "$LOG/init.log" 2>/dev/null; shutdown_all; exit 1; }
# fg CMD...: run CMD and wait for it, interruptibly (bash runs a trap only once its foreground child
# is done; `wait` returns at once on a signal, so TERM stops the container during a long init step)
fg() { "$@" & wait $!; }

T0=$(ts)
fg python3 "$RS"/render.py || fail "render: /etc/rs-os/backend.json"
NAME=$(jget name)
say "backend $NAME: cloud $(jget cloud), region $(jget region), address $(jget address)"
fg "$RS"/start-infra.sh || fail "infra (mariadb, rabbitmq, memcached)"
T1=$(ts)
[ -e "$STATE"/db-initialized ] || { fg "$RS"/init-db.sh >> "$LOG/init.log" 2>&1 || fail "database init"; }
T2=$(ts)
if [ -n "$(jget keystone)" ]; then
  fg "$RS"/start-keystone.sh || fail "keystone"
  [ -e "$STATE"/keystone-initialized ] || { fg python3 "$RS"/init_keystone.py >> "$LOG/init.log" 2>&1 || fail "keystone init"; }
fi
# every service authenticates against the cloud's keystone (maybe in another container)
fg wait_url "$(jget auth_url)" "${RS_OS_KEYSTONE_WAIT:-300}" || fail "keystone $(jget auth_url) unreachable"
T3=$(ts)
fg "$RS"/start-openstack.sh || fail "services"
T4=$(ts)
[ -e "$STATE"/resources-initialized ] || { fg python3 "$RS"/init_resources.py >> "$LOG/init.log" 2>&1 || fail "resources init"; }
T5=$(ts)
fg python3 "$RS"/selfcheck.py > "$LOG/selfcheck.log" 2>&1 || { cat "$LOG/selfcheck.log"; fail "self-check"; }
echo "infra=$(awk "BEGIN{print $T1-$T0}") dbinit=$(awk "BEGIN{print $T2-$T1}") keystone=$(awk "BEGIN{print $T3-$T2}") services=$(awk "BEGIN{print $T4-$T3}") resinit=$(awk "BEGIN{print $T5-$T4}") total=$(since "$T0")" > /run/rs-os-ready
echo "READY $NAME $(cat /run/rs-os-ready)"
while true; do wait; sleep 1; done
