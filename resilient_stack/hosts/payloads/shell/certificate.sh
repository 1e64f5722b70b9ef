#!/bin/bash
# Managed by resilient_stack (cloud-init): a real certificate for {{names}} from Let's Encrypt (ACME HTTP-01 with
# Debian's certbot, the challenge served by nginx from {{acme_root}}). Until it is issued nginx serves Debian's
# self-signed one, without HSTS. Run at first boot (in the background) and by resilient-stack-certificate.timer
# until it succeeds; once issued, certbot.timer renews it and the deploy hook reloads nginx.
set -euo pipefail
NAMES=({{names}})
ACME_ROOT={{acme_root}}
LIVE=/etc/letsencrypt/live/{{cert_name}}
TLS={{tls_snippet}}
say() { echo "resilient-stack: $*"; }

args=()
for name in "${NAMES[@]}"; do args+=(-d "$name"); done
install -d -m 0755 "$ACME_ROOT/.well-known/acme-challenge"
if ! certbot certonly --webroot -w "$ACME_ROOT" --cert-name {{cert_name}} "${args[@]}" --non-interactive \
        --agree-tos --register-unsafely-without-email --keep-until-expiring --quiet; then
    say "no certificate for ${NAMES[*]} yet (does the name point at the stack's addresses?): the self-signed one stays"
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
mv "$new" "$TLS"
nginx -t -q
systemctl reload nginx
say "nginx serves the certificate of ${NAMES[*]}, with HSTS"
