#!/bin/bash
# The region's services, started by hand (no systemd); each logs under /var/log/<service>/.
# shellcheck source=/dev/null
. /opt/rs-os/lib.sh
uw() {  # uw PORT WSGI_FILE LOG PROCESSES: one API under uwsgi (see start-keystone.sh for the options)
  uwsgi_python3 --master --enable-threads --lazy-apps --die-on-term --buffer-size 65535 --processes "$4" \
    --threads 1 --add-header Connection:close --http-socket "0.0.0.0:$1" --wsgi-file "$2" --logto "$3" &
}
uw 8778 /usr/bin/placement-api /var/log/placement/uwsgi.log 1
uw 8774 /usr/bin/nova-api-wsgi /var/log/nova/nova-api-uwsgi.log 2
uw 8776 /usr/bin/cinder-wsgi /var/log/cinder/cinder-api-uwsgi.log 1
# Nova's metadata API (what cloud-init's OpenStack datasource reads at 169.254.169.254, through a signing proxy)
METADATA_PORT=$(jget metadata.port)
uw "$METADATA_PORT" /usr/bin/nova-metadata-wsgi /var/log/nova/nova-metadata-uwsgi.log 1
glance-api --config-file /etc/glance/glance-api.conf > /var/log/glance/stdout.log 2>&1 &
neutron-server --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini \
  > /var/log/neutron/stdout.log 2>&1 &
nova-conductor > /var/log/nova/conductor-stdout.log 2>&1 &
nova-scheduler > /var/log/nova/scheduler-stdout.log 2>&1 &
# nova-compute and cinder-volume: their console scripts live in packages that pull a hypervisor
# (nova-compute-kvm) or lvm2/tgt/open-iscsi (cinder-volume); python3-nova / python3-cinder have the code.
python3 -c 'import sys; from nova.cmd.compute import main; sys.exit(main())' \
  --log-file /var/log/nova/nova-compute.log > /var/log/nova/compute-stdout.log 2>&1 &
cinder-scheduler > /var/log/cinder/scheduler-stdout.log 2>&1 &
python3 -c 'import sys; from cinder.cmd.volume import main; sys.exit(main())' \
  --log-file /var/log/cinder/cinder-volume.log > /var/log/cinder/volume-stdout.log 2>&1 &
for s in account container object; do swift-$s-server /etc/swift/$s-server.conf > /var/log/swift/$s.log 2>&1 & done
swift-proxy-server /etc/swift/proxy-server.conf > /var/log/swift/proxy.log 2>&1 &
ports=(8778 8774 8776 "$METADATA_PORT" 9292 9696 8080)
# the region's S3 endpoint: the same proxy over TLS on 443, with the certificate of the local CA that names it
if [ -n "$(jget s3.host)" ]; then
  sed -e 's/^bind_port = 8080$/bind_port = 443\ncert_file = \/etc\/rs-os\/tls\/server.pem\nkey_file = \/etc\/rs-os\/tls\/server.key/' \
    /etc/swift/proxy-server.conf > /etc/swift/proxy-server-s3.conf
  swift-proxy-server /etc/swift/proxy-server-s3.conf > /var/log/swift/proxy-s3.log 2>&1 &
  ports+=(443)
fi
for p in "${ports[@]}"; do wait_port "$p" 300 || exit 1; done
