"""The database cluster's private certificate authority: one CA per stack, one certificate per member.

Every channel between the database members is mutual TLS under this CA (:mod:`.cluster`): etcd's peers and
clients, Patroni's REST API, PostgreSQL's replication and ``pg_rewind``, and the application's connections
(``sslmode=verify-full``). The components issue the certificates through a Pulumi resource whose private keys are
secrets (:mod:`resilient_stack.components.pki`); the fire drill's mock runner issues them with the same functions.

* The CA: an ECDSA P-256 key, ``CA:TRUE, pathlen:0``, signing certificates only, valid :data:`CA_DAYS`.
* A member's certificate (:func:`issue_member`): its host name, its public address, ``127.0.0.1`` and ``localhost``
  as subject alternative names (no common name: see :func:`issue_member`), for TLS servers and clients
  (etcd's peers are both), valid :data:`LEAF_DAYS`; a ``pulumi up`` within :data:`RENEW_BEFORE_DAYS` of its
  expiry issues a new one, which reaches the running hosts in place (:mod:`.secrets`).
* A member's administrator certificate (:func:`issue_client`, common name ``root``): etcd maps a client
  certificate's common name to its user, so the host's own maintenance (membership, defragmentation, alarms)
  runs as etcd's ``root`` with it, a key only root on that host reads.

``seed``: the deterministic mode of the mock runner and the tests (keys derived from the seed, serials from it,
RFC 6979 signatures): the same inputs give the same certificates, so rendered user data stays comparable. A real
issue leaves ``seed`` unset (keys from the operating system's random source). Pure: the ``cryptography`` package.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_DAYS",
    "LEAF_DAYS",
    "RENEW_BEFORE_DAYS",
    "ADMIN_CN",
    "Issued",
    "new_ca",
    "issue_member",
    "issue_client",
    "not_after",
    "common_name",
    "due",
]

CA_DAYS = 3650
LEAF_DAYS = 365
RENEW_BEFORE_DAYS = 30
ADMIN_CN = "root"  # etcd's root user: the host's own maintenance
_ORG = "resilient-stack"
_N = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)  # P-256's group order


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, PEM (the key unencrypted PKCS#8: it lives in 0600/0640 files)."""

    cert: str
    key: str = ""


def _key(seed: str | None, label: str) -> ec.EllipticCurvePrivateKey:
    if seed is None:
        return ec.generate_private_key(ec.SECP256R1())
    scalar = int.from_bytes(hashlib.sha512(f"{seed}/{label}".encode()).digest(), "big") % (_N - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _serial(seed: str | None, label: str) -> int:
    if seed is None:
        return x509.random_serial_number()
    return int.from_bytes(hashlib.sha256(f"{seed}/{label}/serial".encode()).digest()[:16], "big") >> 1 or 1


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem_cert(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _name(cn: str | None, unit: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG)]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    if cn:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _window(now: dt.datetime, days: int) -> tuple[dt.datetime, dt.datetime]:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    start = now.replace(microsecond=0) - dt.timedelta(hours=1)  # clocks a little behind still accept it
    return start, start + dt.timedelta(days=days)


def new_ca(scope: str, *, now: dt.datetime, days: int = CA_DAYS, seed: str | None = None) -> Issued:
    """A new CA for the cluster ``scope``."""
    key = _key(seed, "ca")
    start, end = _window(now, days)
    name = _name(f"{scope} cluster CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial(seed, "ca"))
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return Issued(_pem_cert(cert), _pem_key(key))


def _load_ca(ca: Issued) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(ca.cert.encode())
    key = serialization.load_pem_private_key(ca.key.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    return cert, key


def _leaf(
    ca: Issued,
    *,
    cn: str | None,
    unit: str | None = None,
    sans: Sequence[x509.GeneralName],
    usages: Sequence[x509.ObjectIdentifier],
    now: dt.datetime,
    days: int,
    seed: str | None,
    label: str,
) -> Issued:
    ca_cert, ca_key = _load_ca(ca)
    key = _key(seed, label)
    start, end = _window(now, days)
    end = min(end, ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, unit))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(_serial(seed, label))
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return Issued(_pem_cert(builder.sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)), _pem_key(key))


def issue_member(
    ca: Issued, name: str, addresses: Iterable[str], *, now: dt.datetime, days: int = LEAF_DAYS, seed: str | None = None
) -> Issued:
    """A member's certificate: its name, addresses, the loopback and ``localhost`` as SANs, and NO common name: etcd
    presents it to itself when its JSON gateway (Patroni's way in) forwards a request, and refuses a forwarded request
    from a certificate with a common name once authentication is on ("CommonName of client sending a request
    against gateway will be ignored"). The member's name is its subject's organisational unit."""
    ips = list(dict.fromkeys([*(str(ipaddress.ip_address(a)) for a in addresses), "127.0.0.1"]))
    sans: list[x509.GeneralName] = [
        x509.DNSName(name),
        x509.DNSName("localhost"),
        *(x509.IPAddress(ipaddress.ip_address(a)) for a in ips),
    ]
    return _leaf(
        ca,
        cn=None,
        unit=name,
        sans=sans,
        usages=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        now=now,
        days=days,
        seed=seed,
        label=f"member/{name}",
    )


def issue_client(
    ca: Issued, cn: str, *, label: str, now: dt.datetime, days: int = LEAF_DAYS, seed: str | None = None
) -> Issued:
    """A client-only certificate with common name ``cn`` (``label`` tells apart two of the same name)."""
    return _leaf(
        ca,
        cn=cn,
        sans=[],
        usages=[ExtendedKeyUsageOID.CLIENT_AUTH],
        now=now,
        days=days,
        seed=seed,
        label=f"client/{label}",
    )


def not_after(cert_pem: str) -> dt.datetime:
    """When the certificate expires (UTC)."""
    return x509.load_pem_x509_certificate(cert_pem.encode()).not_valid_after_utc


def common_name(cert_pem: str) -> str:
    attrs = x509.load_pem_x509_certificate(cert_pem.encode()).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def due(cert_pem: str, *, now: dt.datetime, renew_before_days: int = RENEW_BEFORE_DAYS) -> bool:
    """The certificate expires within ``renew_before_days`` of ``now`` (or is unreadable): issue a new one."""
    try:
        return not_after(cert_pem) - now <= dt.timedelta(days=renew_before_days)
    except ValueError:
        return True
