#!/bin/bash
# Once per backend: databases, grants, the rabbit user, schema syncs, nova cells, swift rings.
set -ex
# shellcheck source=/dev/null
. /opt/rs-os/lib.sh
dbs="glance placement nova_api nova nova_cell0 neutron cinder"
[ -n "$(jget keystone)" ] && dbs="keystone $dbs"
for db in $dbs; do mysql -e "CREATE DATABASE IF NOT EXISTS $db"; done
mysql -e "CREATE USER IF NOT EXISTS 'os'@'127.0.0.1' IDENTIFIED BY 'ospw'; GRANT ALL ON *.* TO 'os'@'127.0.0.1'; FLUSH PRIVILEGES"
rabbitmqctl add_user openstack ospw || true
rabbitmqctl set_permissions openstack '.*' '.*' '.*'
if [ -n "$(jget keystone)" ]; then
  keystone-manage db_sync
  keystone-manage fernet_setup --keystone-user root --keystone-group root
  keystone-manage credential_setup --keystone-user root --keystone-group root
  url=$(jget auth_url)
  keystone-manage bootstrap --bootstrap-password ospw --bootstrap-region-id "$(jget region)" \
    --bootstrap-admin-url "$url" --bootstrap-internal-url "$url" --bootstrap-public-url "$(jget public_auth_url)"
fi
glance-manage db_sync
placement-manage db sync
nova-manage api_db sync
nova-manage cell_v2 map_cell0 --database_connection mysql+pymysql://os:ospw@127.0.0.1/nova_cell0
nova-manage cell_v2 list_cells | grep -q cell1 || nova-manage cell_v2 create_cell --name cell1 --verbose
nova-manage db sync
neutron-db-manage --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head
cinder-manage db sync
# swift: 1 replica, 1 device per ring, on a plain directory (mount_check = false)
mkdir -p /srv/node/d1 /var/cache/swift /var/log/swift && chown -R swift:swift /srv/node /var/cache/swift
cd /etc/swift
for r in account:6202 container:6201 object:6200; do
  n=${r%%:*}; p=${r##*:}; rm -f "$n.builder" "$n.ring.gz"
  swift-ring-builder "$n.builder" create 8 1 1
  swift-ring-builder "$n.builder" add --region 1 --zone 1 --ip 127.0.0.1 --port "$p" --device d1 --weight 100
  swift-ring-builder "$n.builder" rebalance
done
chown -R swift:swift /etc/swift
mkdir -p /var/lib/nova/tmp /var/lib/neutron/lock /var/lib/glance/images /var/lib/glance/lock /var/lib/cinder/tmp
touch "$STATE/db-initialized"
