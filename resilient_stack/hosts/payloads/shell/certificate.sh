#!/bin/bash
# Managed by resilient_stack (cloud-init): a real certificate from Let's Encrypt (ACME HTTP-01 with Debian's certbot,
# the challenge served by nginx from {{acme_root}}) for the names in {{names_file}}, which root's sync keeps at the
# stack's web.serverName (with web.https; no name there: nothing to certify). Until it is issued nginx serves the
# previous certificate (at first, Debian's self-signed one, without HSTS). Run at first boot (in the background), by
# root's sync when the names change, and by resilient-stack-certificate.timer until it succeeds; once issued,
# certbot.timer renews it and the deploy hook reloads nginx.
set -euo pipefail
NAMES_FILE={{names_file}}
ACME_ROOT={{acme_root}}
LIVE=/etc/letsencrypt/live/{{cert_name}}
TLS={{tls_snippet}}
say() { echo "resilient-stack: $*"; }

NAMES=()
if [ -s "$NAMES_FILE" ]; then read -r -a NAMES < "$NAMES_FILE" || true; fi
if [ "${#NAMES[@]}" -eq 0 ]; then
    say "no DNS name to certify (web.serverName with web.https): nothing to do"
    exit 0
fi
args=()
for name in "${NAMES[@]}"; do args+=(-d "$name"); done
install -d -m 0755 "$ACME_ROOT/.well-known/acme-challenge"
# new names: the same lineage is issued again for them at once (--renew-with-new-domains)
if ! certbot certonly --webroot -w "$ACME_ROOT" --cert-name {{cert_name}} "${args[@]}" --non-interactive \
        --agree-tos --register-unsafely-without-email --keep-until-expiring --renew-with-new-domains --quiet; then
    say "no certificate for ${NAMES[*]} yet (does the name point at the stack's addresses?): the previous one stays"
    exit 1
fi
new=$(mktemp "$TLS.XXXXXX")
cat > "$new" <<TLSEOF
# Managed by resilient_stack: the ACME certificate of ${NAMES[*]} (renewed by certbot.timer)
ssl_certificate $LIVE/fullchain.pem;
ssl_certificate_key $LIVE/privkey.pem;
add_header Strict-Transport-Security "max-age=31536000" always;
TLSEOF
chmod 0644 "$new"
if cmp -s "$new" "$TLS"; then
    rm -f "$new"
    say "certificate for ${NAMES[*]} in place"
    exit 0
fi
old=$(mktemp "$TLS.XXXXXX")
cp -p "$TLS" "$old"
mv "$new" "$TLS"
if ! nginx -t -q; then
    mv "$old" "$TLS"
    say "nginx refused the certificate of ${NAMES[*]}: the previous one stays"
    exit 1
fi
rm -f "$old"
systemctl reload nginx
say "nginx serves the certificate of ${NAMES[*]}, with HSTS"
