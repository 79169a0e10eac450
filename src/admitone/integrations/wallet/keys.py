"""Wallet keys and certificates, loaded once per process.

Parsing an RSA key costs ~40 ms (its validation), a signature ~0.5 ms: the material is
loaded on first use and cached for the process, keyed by the PEM text (settings are not
hashable). Outside production, whatever is not configured comes from a local chain made
once under `var_dir/wallet/`: a root CA, a stand-in "WWDR" intermediate, a pass-type leaf
certificate and a Google service-account key. OpenSSL verifies passes signed with it
against `root.pem`; iOS does not (it wants Apple's chain).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from admitone.settings import Settings


class WalletNotConfigured(Exception):
    """Production without wallet certificates or keys."""


@dataclass(frozen=True)
class AppleMaterial:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey
    wwdr: x509.Certificate
    # The same as PEM files, for the TLS client certificate of APNs (ssl wants files).
    cert_file: Path
    key_file: Path

    @cached_property
    def signer(self) -> pkcs7.PKCS7SignatureBuilder:
        """A PKCS#7 builder with the signer set (its checks made once). Each pass adds its
        manifest, then the WWDR certificate: `set_data` keeps the signers but drops the
        extra certificates (cryptography 50), so the certificate must come after it."""
        return pkcs7.PKCS7SignatureBuilder().add_signer(self.certificate, self.key, hashes.SHA256())


@dataclass(frozen=True)
class DevChain:
    directory: Path

    @property
    def root(self) -> Path:
        return self.directory / "root.pem"

    @property
    def wwdr(self) -> Path:
        return self.directory / "wwdr.pem"

    @property
    def certificate(self) -> Path:
        return self.directory / "pass.pem"

    @property
    def key(self) -> Path:
        return self.directory / "pass.key"

    @property
    def google_key(self) -> Path:
        return self.directory / "google-service-account.key"


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Admit One development"),
        ]
    )


def make_certificate(
    cn: str,
    key: rsa.RSAPrivateKey,
    issuer: x509.Certificate | None = None,
    issuer_key: rsa.RSAPrivateKey | None = None,
    *,
    ca: bool = False,
    dns: str | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    else:
        usage = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False
        )
    return builder.add_extension(usage, critical=True).sign(issuer_key or key, hashes.SHA256())


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def ensure_dev_chain(var_dir: Path, pass_type_id: str) -> DevChain:
    """The local chain under `var_dir/wallet/`, made on first call."""
    chain = DevChain(var_dir / "wallet")
    if chain.google_key.exists():
        return chain
    chain.directory.mkdir(parents=True, exist_ok=True)
    root_key, wwdr_key, leaf_key = _rsa(), _rsa(), _rsa()
    root = make_certificate("Admit One development root", root_key, ca=True)
    wwdr = make_certificate("Admit One stand-in WWDR", wwdr_key, root, root_key, ca=True)
    leaf = make_certificate(f"Pass Type ID: {pass_type_id}", leaf_key, wwdr, wwdr_key)
    chain.root.write_bytes(_cert_pem(root))
    chain.wwdr.write_bytes(_cert_pem(wwdr))
    chain.certificate.write_bytes(_cert_pem(leaf))
    _write_private(chain.key, _key_pem(leaf_key))
    _write_private(chain.google_key, _key_pem(_rsa()))  # written last: marks the chain done
    return chain


@lru_cache(maxsize=4)
def _load_apple(
    cert_pem: str, key_pem: str, password: str | None, wwdr_pem: str, files_dir: str
) -> AppleMaterial:
    key: PrivateKeyTypes = serialization.load_pem_private_key(
        key_pem.encode(), password.encode() if password else None
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise WalletNotConfigured("the Apple pass-type key must be RSA")
    directory = Path(files_dir)
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "apns-client.pem", directory / "apns-client.key"
    cert_file.write_text(cert_pem)
    _write_private(key_file, _key_pem(key))
    return AppleMaterial(
        certificate=x509.load_pem_x509_certificate(cert_pem.encode()),
        key=key,
        wwdr=x509.load_pem_x509_certificate(wwdr_pem.encode()),
        cert_file=cert_file,
        key_file=key_file,
    )


# The material of the last few Settings objects, by identity (settings are neither hashable
# nor weak-referenceable; each entry keeps its Settings alive, so an id is never reused
# while it is here): a pass then costs a dictionary lookup, not reading PEM text (in dev,
# files) to find the cached material.
_BY_SETTINGS: dict[int, tuple[Settings, AppleMaterial]] = {}


def apple_material(settings: Settings) -> AppleMaterial:
    known = _BY_SETTINGS.get(id(settings))
    if known is not None and known[0] is settings:
        return known[1]
    material = _apple_material(settings)
    if len(_BY_SETTINGS) >= 8:
        _BY_SETTINGS.clear()
    _BY_SETTINGS[id(settings)] = (settings, material)
    return material


def _apple_material(settings: Settings) -> AppleMaterial:
    w = settings.wallet
    if w.apple_certificate and w.apple_key and w.apple_wwdr_certificate:
        cert_pem, key_pem = w.apple_certificate, w.apple_key.get_secret_value()
        wwdr_pem = w.apple_wwdr_certificate
    elif settings.env == "production":
        raise WalletNotConfigured("ADMITONE_WALLET__APPLE_CERTIFICATE/KEY/WWDR are not set")
    else:
        chain = ensure_dev_chain(settings.var_dir, w.apple_pass_type_id)
        cert_pem, key_pem = chain.certificate.read_text(), chain.key.read_text()
        wwdr_pem = chain.wwdr.read_text()
    password = w.apple_key_password.get_secret_value() if w.apple_key_password else None
    files = str((settings.var_dir / "wallet" / "run").absolute())
    return _load_apple(cert_pem, key_pem, password, wwdr_pem, files)


@lru_cache(maxsize=4)
def _load_google(key_pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise WalletNotConfigured("the Google service-account key must be RSA")
    return key


def google_key(settings: Settings) -> rsa.RSAPrivateKey:
    w = settings.wallet
    if w.google_private_key is not None:
        return _load_google(w.google_private_key.get_secret_value())
    if settings.env == "production":
        raise WalletNotConfigured("ADMITONE_WALLET__GOOGLE_PRIVATE_KEY is not set")
    chain = ensure_dev_chain(settings.var_dir, w.apple_pass_type_id)
    return _load_google(chain.google_key.read_text())
