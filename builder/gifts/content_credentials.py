"""C2PA content credentials: a signed manifest declaring how cover art and audio were made (model or procedural).

Signing is offline with a certificate chain from secrets (`GIFT_C2PA_CERT_CHAIN` and `GIFT_C2PA_PRIVATE_KEY`
as PEM, or `GIFT_C2PA_CERT_CHAIN_FILE` / `GIFT_C2PA_PRIVATE_KEY_FILE`). Without them, a local run signs with
the development chain from `dev_certificates`; under CI (`CI` / `GITHUB_ACTIONS`) nothing is invented: the
settings say C2PA is off and why, and the gift page's disclosure says the same. `GIFT_C2PA=off` turns it
off anywhere, `GIFT_C2PA=required` makes a missing chain a configuration error.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.errors import ConfigError, MediaError
from builder.settings import C2paSource

CLAIM_GENERATOR = "Giftboard"


@dataclass(frozen=True)
class C2paSettings:
    """Whether and how gift media is signed; `note` is the public, human-readable reason when it is off."""

    enabled: bool
    source: str  # "configured" | "development" | "off"
    note: str = ""
    chain_pem: bytes = field(default=b"", repr=False)
    key_pem: bytes = field(default=b"", repr=False)

    @classmethod
    def off(cls, note: str) -> C2paSettings:
        """Settings that sign nothing, saying why."""
        return cls(enabled=False, source="off", note=note)


def c2pa_settings_from_env(env: Mapping[str, str], *, dev_dir: Path = Path(".data/c2pa")) -> C2paSettings:
    """`c2pa_settings` for the settings `env` holds (a mapping of variables, as in tests)."""
    from builder.settings import load_settings

    settings = load_settings(env)
    return c2pa_settings(settings.c2pa, ci=settings.ci, dev_dir=dev_dir)


def c2pa_settings(source: C2paSource, *, ci: bool, dev_dir: Path = Path(".data/c2pa")) -> C2paSettings:
    """The signing chain `source` names (see the module docstring for the rules); `ci` never invents one."""
    if source.mode == "off":
        return C2paSettings.off("content credentials are turned off (GIFT_C2PA=off)")
    chain = _secret("GIFT_C2PA_CERT_CHAIN", source.cert_chain, source.cert_chain_file)
    key = _secret("GIFT_C2PA_PRIVATE_KEY", source.private_key, source.private_key_file)
    if chain and key:
        _check_chain(chain, key)
        return C2paSettings(enabled=True, source="configured", chain_pem=chain, key_pem=key)
    if chain or key:
        raise ConfigError("GIFT_C2PA_CERT_CHAIN and GIFT_C2PA_PRIVATE_KEY must be set together")
    if source.mode == "required":
        raise ConfigError("GIFT_C2PA=required but no signing chain is configured (GIFT_C2PA_CERT_CHAIN[_FILE])")
    if ci:
        return C2paSettings.off("content credentials are not attached: no signing certificate is configured")
    from builder.gifts.dev_certificates import ensure_dev_chain

    chain, key = ensure_dev_chain(dev_dir)
    return C2paSettings(enabled=True, source="development", chain_pem=chain, key_pem=key,
                        note="signed with a local development certificate")


def sign_media(data: bytes, mime: str, settings: C2paSettings, *, title: str, digital_source_type: str,
               software_agent: str = "") -> bytes:
    """Embed a signed C2PA manifest (`c2pa.created`, the digital source type) into `data`; unchanged when off."""
    if not settings.enabled:
        return data
    import c2pa

    manifest = manifest_definition(title=title, digital_source_type=digital_source_type,
                                   software_agent=software_agent)
    try:
        context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, settings.chain_pem, settings.key_pem, None)
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest, context=context) as builder:
            out = io.BytesIO()
            builder.sign(signer, mime, io.BytesIO(data), out)
    except c2pa.C2paError as error:
        # c2pa's messages describe the file and certificates, never our text; keep only the error's kind
        kind = type(error).__name__.removeprefix("_").removeprefix("C2pa") or "error"
        raise MediaError(f"content credentials could not be signed for {title} ({kind})") from None
    return out.getvalue()


def manifest_definition(*, title: str, digital_source_type: str, software_agent: str = "") -> dict[str, Any]:
    """The manifest we sign: a creation action with its digital source type; no prompt, no order data."""
    action: dict[str, Any] = {"action": "c2pa.created", "digitalSourceType": digital_source_type}
    if software_agent:
        action["softwareAgent"] = {"name": software_agent}
    return {
        "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": _version()}],
        "title": title,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}],
    }


def read_manifest(data: bytes, mime: str, *, trust_anchors_pem: bytes | None = None) -> dict[str, Any] | None:
    """The active manifest of `data` with its validation state (`_validation_state`), or None without one."""
    import c2pa

    settings: dict[str, Any] = {}
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem.decode("ascii")}
    context = c2pa.Context.from_dict(settings) if settings else None
    reader = c2pa.Reader.try_create(mime, io.BytesIO(data), context=context)
    if reader is None:
        return None
    with reader:
        manifest = reader.get_active_manifest() or {}
        manifest = json.loads(json.dumps(manifest))
        manifest["_validation_state"] = reader.get_validation_state()
        return manifest


def digital_source_types(manifest: Mapping[str, Any]) -> list[str]:
    """Every `digitalSourceType` declared by the manifest's actions."""
    found: list[str] = []
    for assertion in manifest.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            found += [a["digitalSourceType"] for a in assertion["data"].get("actions", [])
                      if "digitalSourceType" in a]
    return found


def _check_chain(chain_pem: bytes, key_pem: bytes) -> None:
    """Fail at start-up, with a clear message, on a chain C2PA would refuse at signing time."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certificates = x509.load_pem_x509_certificates(chain_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError("GIFT_C2PA_CERT_CHAIN / GIFT_C2PA_PRIVATE_KEY are not PEM certificates and an "
                          "unencrypted PEM private key") from None
    signer = certificates[0]
    if signer.issuer == signer.subject:
        raise ConfigError("the C2PA signing certificate is self-signed; C2PA needs one issued by a CA "
                          "(put the signing certificate first in GIFT_C2PA_CERT_CHAIN, then its issuers)")
    def spki(public_key: Any) -> bytes:
        return bytes(public_key.public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo))

    if spki(signer.public_key()) != spki(key.public_key()):
        raise ConfigError("GIFT_C2PA_PRIVATE_KEY does not belong to the first certificate of GIFT_C2PA_CERT_CHAIN")


def _secret(name: str, text: str, file: str) -> bytes:
    value = text.strip().replace("\\n", "\n")  # a PEM pasted with literal \n separators
    if value:
        if not value.isascii():
            raise ConfigError(f"{name} must be PEM text")
        return value.encode("ascii") + b"\n"
    if file:
        try:
            return Path(file).read_bytes()
        except OSError:
            raise ConfigError(f"{name}_FILE names a file that cannot be read") from None
    return b""


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("giftboard")
    except Exception:  # not installed as a distribution (a plain checkout)
        return "0"
