#!/bin/bash
# MariaDB, RabbitMQ and memcached, on the container's own loopback.
# shellcheck source=/dev/null
. /opt/rs-os/lib.sh
mkdir -p /run/mysqld /var/log/mysql /run/rabbitmq && chown mysql:mysql /run/mysqld /var/log/mysql && chown rabbitmq: /run/rabbitmq
/usr/sbin/mariadbd --user=mysql > /var/log/mysql/stdout.log 2>&1 &
memcached -u memcache -m 64 -l 127.0.0.1 -p 11211 > /var/log/memcached.log 2>&1 &
HOME=/var/lib/rabbitmq rabbitmq-server > /var/log/rabbitmq/stdout.log 2>&1 &
wait_port 3306 && wait_port 5672 180 && wait_port 11211
