#!/bin/bash
# Managed by resilient_stack (cloud-init): certbot renewed a certificate: nginx takes it.
set -euo pipefail
nginx -t -q && systemctl reload nginx
