"""A local development certificate chain for C2PA signing (root CA → signing certificate), never for production.

C2PA refuses a self-signed signer, so the chain has a CA and a leaf whose key usage (digitalSignature) and
extended key usage (emailProtection) are ones the C2PA trust model accepts. `make demo` calls
`ensure_dev_chain(Path(".data/c2pa"))`; production passes its own chain through `GIFT_C2PA_*` secrets.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from builder.atomic_files import atomic_write

CHAIN_FILE = "chain.pem"  # signing certificate first, then the root CA
KEY_FILE = "signer.key"  # PKCS#8 PEM, mode 0600
DEFAULT_DEV_DIR = Path(".data/c2pa")
_VALIDITY = timedelta(days=365)
_RENEW_BEFORE = timedelta(days=7)


def ensure_dev_chain(path: Path = DEFAULT_DEV_DIR) -> tuple[bytes, bytes]:
    """Return (chain_pem, key_pem) from `path`, creating a fresh development chain there when missing or stale."""
    chain_path, key_path = path / CHAIN_FILE, path / KEY_FILE
    if chain_path.is_file() and key_path.is_file():
        chain_pem, key_pem = chain_path.read_bytes(), key_path.read_bytes()
        if _still_valid(chain_pem):
            return chain_pem, key_pem
    chain_pem, key_pem, _root_key = create_dev_chain()  # the root key is not kept: the chain is remade instead
    path.mkdir(parents=True, exist_ok=True)
    atomic_write(key_path, key_pem, mode=0o600)
    atomic_write(chain_path, chain_pem)
    return chain_pem, key_pem


def create_dev_chain(now: datetime | None = None) -> tuple[bytes, bytes, bytes]:
    """Make (chain_pem, signer_key_pem, root_key_pem): an EC P-256 root CA and a signing certificate it issued."""
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Giftboard Development Root CA")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + _VALIDITY * 2)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(_name("Giftboard Development Signer"))
        .issuer_name(root_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    chain = signer.public_bytes(serialization.Encoding.PEM) + root.public_bytes(serialization.Encoding.PEM)
    return chain, _pem(signer_key), _pem(root_key)


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Giftboard (development only)"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
        encipher_only=False, decipher_only=False,
    )


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _still_valid(chain_pem: bytes) -> bool:
    try:
        certificates = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        return False
    deadline = datetime.now(UTC) + _RENEW_BEFORE
    return len(certificates) >= 2 and all(c.not_valid_after_utc > deadline for c in certificates)
