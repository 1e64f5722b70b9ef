#!/bin/bash
# Keystone under uwsgi: plain HTTP on :5000 (what the services use) and, when backend.json asks for it,
# HTTPS on keystone.tls_port with the certificate mounted at /etc/rs-os/tls (the name the stack's
# authUrl gives resolves to this container in the clients' namespace). keystone.path mounts it under a
# prefix (/identity, as Infomaniak serves it): keystone_wsgi.py.
# shellcheck source=/dev/null
. /opt/rs-os/lib.sh
# nova-api and keystone run eventlet inside: one thread per process, several processes (trap 2 of the
# reference recipe: threads in one process deadlock on concurrent requests). Connection: close for
# clients that reuse connections (uwsgi's http-socket has no keep-alive).
args=(--master --enable-threads --lazy-apps --die-on-term --buffer-size 65535 --processes 2 --threads 1
      --add-header Connection:close --http-socket 0.0.0.0:5000 --logto /var/log/keystone/uwsgi.log
      --wsgi-file /opt/rs-os/keystone_wsgi.py)
tls=$(jget keystone.tls_port)
[ -n "$tls" ] && args+=(--https-socket "0.0.0.0:$tls,/etc/rs-os/tls/server.pem,/etc/rs-os/tls/server.key")
uwsgi_python3 "${args[@]}" &
wait_port 5000 || exit 1
[ -z "$tls" ] || wait_port "$tls" || exit 1
