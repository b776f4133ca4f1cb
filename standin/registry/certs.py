"""A self-signed RSA key and certificate for signing registry tokens.

distribution trusts a token when the certificate in its ``x5c`` header chains
to ``rootcertbundle``; a self-signed certificate is its own chain, so one file
serves as both the signing certificate and the bundle.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_FILE = "token-signing.key.pem"
CERT_FILE = "token-signing.cert.pem"


def make_signing_cert(
    directory: str | Path, common_name: str = "standin token signer"
) -> tuple[Path, Path]:
    """Write a new RSA key and a self-signed certificate into ``directory``.

    Returns ``(key_path, cert_path)``, both PEM. The key is unencrypted: it
    only ever signs tokens for a registry on loopback.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    # Backdated a day so that a clock a little behind on either side still
    # finds the certificate valid; Go rejects a chain outside its validity.
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )

    key_path = directory / KEY_FILE
    cert_path = directory / CERT_FILE
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path
