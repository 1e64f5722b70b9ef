# Managed by resilient_stack (cloud-init): the host's certificates' expiry for the monitoring, part of root's sync
# (runtime/sync.py): each certificate of TLS_DIR (the cluster's CA, the member's, the administrator's client one)
# with its end of validity, for the node exporter's text file collector (the monitoring hosts'
# MemberCertificateExpiring alert); a host without them exports nothing.
CERTIFICATE_METRICS = "{{certificate_metrics}}"


def certificate_expiries():
    """{file name: its certificate's notAfter, epoch seconds} of TLS_DIR's certificates (openssl reads them)."""
    out = {}
    for name, (path, *_) in sorted(TLS_FILES.items()):
        full = os.path.join(TLS_DIR, path)
        if not path.endswith(".crt") or not os.path.exists(full):
            continue
        try:
            proc = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", full], capture_output=True,
                                  text=True)
        except OSError as exc:  # no openssl: nothing is exported, the rest of the sync goes on
            say(f"certificates not exported: {exc}")
            return {}
        if proc.returncode == 0 and proc.stdout.startswith("notAfter="):
            out[path] = int(ssl.cert_time_to_seconds(proc.stdout.strip()[len("notAfter="):]))
        else:
            say(f"certificate {full} unreadable: {proc.stderr.strip()[:200]}")
    return out


def export_certificates():
    expiries = certificate_expiries()
    if not expiries:
        return False
    text = "# TYPE resilient_stack_certificate_expiry_timestamp_seconds gauge\n" + "".join(
        'resilient_stack_certificate_expiry_timestamp_seconds{file="%s"} %d\n' % (name, end)
        for name, end in sorted(expiries.items()))
    return write_private(CERTIFICATE_METRICS, text, (0, 0), 0o644)
