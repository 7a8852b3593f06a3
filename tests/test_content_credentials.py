"""C2PA: cover art and audio carry a signed manifest declaring trainedAlgorithmicMedia, read back with c2pa."""

from __future__ import annotations

import io
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from builder.errors import ConfigError, MediaError
from builder.gifts.content_credentials import (
    C2paSettings,
    c2pa_settings_from_env,
    digital_source_types,
    read_manifest,
    sign_media,
)
from builder.gifts.contracts import AudioClip, CoverArt
from builder.gifts.dev_certificates import CHAIN_FILE, KEY_FILE, create_dev_chain, ensure_dev_chain
from builder.gifts.disclosure import ALGORITHMIC
from builder.gifts.media import audio_file, prepare_media
from tests.test_media import _artwork, _clip, _png

PRIVATE = ("Maya Example", "jon@example.org", "secret story")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    return ensure_dev_chain(tmp_path_factory.mktemp("c2pa"))


@pytest.fixture(scope="module")
def settings(chain: tuple[bytes, bytes]) -> C2paSettings:
    return C2paSettings(enabled=True, source="configured", chain_pem=chain[0], key_pem=chain[1])


def root_ca(chain_pem: bytes) -> bytes:
    return x509.load_pem_x509_certificates(chain_pem)[-1].public_bytes(serialization.Encoding.PEM)


def test_dev_chain_signer_is_issued_by_a_ca_with_an_accepted_key_usage(chain: tuple[bytes, bytes]) -> None:
    signer, root = x509.load_pem_x509_certificates(chain[0])
    assert signer.issuer == root.subject != signer.subject  # not self-signed
    signer.verify_directly_issued_by(root)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not signer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert signer.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku


def test_ensure_dev_chain_is_stable_and_keeps_the_key_private(tmp_path: Path) -> None:
    first = ensure_dev_chain(tmp_path / "c2pa")
    assert ensure_dev_chain(tmp_path / "c2pa") == first
    assert stat.S_IMODE(os.stat(tmp_path / "c2pa" / KEY_FILE).st_mode) == 0o600
    assert (tmp_path / "c2pa" / CHAIN_FILE).read_bytes() == first[0]


def test_signed_cover_art_and_audio_declare_trained_algorithmic_media(settings: C2paSettings) -> None:
    media = prepare_media(art=CoverArt(_png(_artwork()), "offline"), audio=_clip(), photo=None, c2pa=settings)
    anchors = root_ca(settings.chain_pem)
    for file in (media.cover, media.cover_fallback, media.social, media.audio):
        manifest = read_manifest(file.data, file.mime, trust_anchors_pem=anchors)
        assert manifest is not None, f"{file.name} has no manifest"
        assert manifest["_validation_state"] == "Trusted", file.name
        assert digital_source_types(manifest) == [ALGORITHMIC]
        assert manifest["title"] == file.name


@pytest.mark.parametrize(("extension", "mime"), [("wav", "audio/wav"), ("mp3", "audio/mpeg")])
def test_a_providers_wav_or_mp3_is_published_as_a_signed_mp3(settings: C2paSettings, extension: str,
                                                              mime: str) -> None:
    from builder.gifts.disclosure import TRAINED, Disclosure
    from tests.fakes.predictions_api import tiny_mp3, tiny_wav

    data = tiny_mp3() if extension == "mp3" else tiny_wav(2.0)
    disclosure = Disclosure.of({"lyrics": "chat-completions", "audio": "predictions", "cover": "offline"})
    song = audio_file(AudioClip(data, mime, extension, 2.0, "predictions"), c2pa=settings, disclosure=disclosure)
    assert song.name == "song.mp3" and song.mime == "audio/mpeg" and song.data != data
    manifest = read_manifest(song.data, "audio/mpeg", trust_anchors_pem=root_ca(settings.chain_pem))
    assert manifest is not None and manifest["_validation_state"] == "Trusted"
    assert digital_source_types(manifest) == [TRAINED]


def test_manifest_reads_back_with_c2pa_reader_directly(settings: C2paSettings) -> None:
    """The same check with c2pa's own API, so the test does not only trust our helper."""
    signed = sign_media(_png(_artwork()), "image/png", settings, title="cover.png", digital_source_type=ALGORITHMIC)
    with c2pa.Reader("image/png", io.BytesIO(signed)) as reader:
        manifest = reader.get_active_manifest()
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"] == ALGORITHMIC


def test_signed_files_still_decode_and_keep_their_xmp_marking(settings: C2paSettings) -> None:
    media = prepare_media(art=CoverArt(_png(_artwork()), "offline"), audio=_clip(), photo=None, c2pa=settings)
    for file in (media.cover, media.cover_fallback, media.social):
        with Image.open(io.BytesIO(file.data)) as image:
            image.load()
            assert ALGORITHMIC.encode() in image.info["xmp"]


def test_manifest_holds_no_private_text(settings: C2paSettings) -> None:
    media = prepare_media(art=CoverArt(_png(_artwork()), "offline"), audio=_clip(), photo=None, c2pa=settings)
    for file in media.files:
        manifest = read_manifest(file.data, file.mime)
        text = repr(manifest)
        assert not any(value in text for value in PRIVATE)
        assert "prompt" not in text.lower()


def test_buyer_photo_cover_is_not_claimed_as_ai_but_the_social_card_is(settings: C2paSettings) -> None:
    photo = _png(_artwork((500, 400)))
    media = prepare_media(art=CoverArt(_png(_artwork()), "offline"), audio=_clip(), photo=photo, c2pa=settings)
    assert read_manifest(media.cover.data, media.cover.mime) is None
    social = read_manifest(media.social.data, media.social.mime)
    assert social is not None and digital_source_types(social) == [ALGORITHMIC]


def test_a_self_signed_signing_certificate_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .sign(key, hashes.SHA256())
    )
    settings = C2paSettings(
        enabled=True, source="configured", chain_pem=certificate.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
    )
    with pytest.raises(MediaError, match=r"could not be signed for cover\.jpg"):
        sign_media(_png(_artwork()), "image/png", settings, title="cover.jpg", digital_source_type=ALGORITHMIC)


# --- settings --------------------------------------------------------------------------------------------------


def test_configured_chain_comes_from_pem_values_or_files(tmp_path: Path) -> None:
    chain_pem, key_pem, _ = create_dev_chain()
    direct = c2pa_settings_from_env({"GIFT_C2PA_CERT_CHAIN": chain_pem.decode(),
                                     "GIFT_C2PA_PRIVATE_KEY": key_pem.decode(), "CI": "true"})
    assert direct.enabled and direct.source == "configured"
    (tmp_path / "chain.pem").write_bytes(chain_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    from_files = c2pa_settings_from_env({"GIFT_C2PA_CERT_CHAIN_FILE": str(tmp_path / "chain.pem"),
                                         "GIFT_C2PA_PRIVATE_KEY_FILE": str(tmp_path / "key.pem")})
    assert from_files.chain_pem == chain_pem and from_files.key_pem == key_pem
    assert "PRIVATE" not in repr(from_files) and "CERTIFICATE" not in repr(from_files)


def test_a_configured_chain_c2pa_would_refuse_fails_at_start_up() -> None:
    chain_pem, key_pem, _ = create_dev_chain()
    other_key = create_dev_chain()[1]
    with pytest.raises(ConfigError, match="does not belong"):
        c2pa_settings_from_env({"GIFT_C2PA_CERT_CHAIN": chain_pem.decode(),
                                "GIFT_C2PA_PRIVATE_KEY": other_key.decode()})
    root_only = x509.load_pem_x509_certificates(chain_pem)[-1].public_bytes(serialization.Encoding.PEM)
    with pytest.raises(ConfigError, match="self-signed"):
        c2pa_settings_from_env({"GIFT_C2PA_CERT_CHAIN": root_only.decode(), "GIFT_C2PA_PRIVATE_KEY": key_pem.decode()})
    with pytest.raises(ConfigError, match="not PEM"):
        c2pa_settings_from_env({"GIFT_C2PA_CERT_CHAIN": "garbage", "GIFT_C2PA_PRIVATE_KEY": "garbage"})


def test_a_pem_pasted_with_literal_newline_escapes_is_accepted() -> None:
    chain_pem, key_pem, _ = create_dev_chain()
    env = {"GIFT_C2PA_CERT_CHAIN": chain_pem.decode().replace("\n", "\\n"),
           "GIFT_C2PA_PRIVATE_KEY": key_pem.decode().replace("\n", "\\n")}
    assert c2pa_settings_from_env(env).chain_pem.strip() == chain_pem.strip()


def test_half_a_configuration_is_an_error() -> None:
    with pytest.raises(ConfigError, match="set together"):
        c2pa_settings_from_env({"GIFT_C2PA_CERT_CHAIN": "-----BEGIN CERTIFICATE-----"})


@pytest.mark.parametrize("variable", ["CI", "GITHUB_ACTIONS"])
def test_ci_without_a_chain_says_c2pa_is_off_instead_of_inventing_one(variable: str, tmp_path: Path) -> None:
    settings = c2pa_settings_from_env({variable: "true"}, dev_dir=tmp_path / "c2pa")
    assert not settings.enabled and settings.source == "off"
    assert "no signing certificate" in settings.note
    assert not (tmp_path / "c2pa").exists()


def test_local_run_without_a_chain_uses_the_development_chain(tmp_path: Path) -> None:
    settings = c2pa_settings_from_env({}, dev_dir=tmp_path / "c2pa")
    assert settings.enabled and settings.source == "development"
    assert (tmp_path / "c2pa" / CHAIN_FILE).read_bytes() == settings.chain_pem


def test_c2pa_can_be_turned_off_or_required() -> None:
    assert c2pa_settings_from_env({"GIFT_C2PA": "off"}).source == "off"
    with pytest.raises(ConfigError, match="required"):
        c2pa_settings_from_env({"GIFT_C2PA": "required"})
    with pytest.raises(ConfigError, match="auto, off or required"):
        c2pa_settings_from_env({"GIFT_C2PA": "maybe"})


def test_with_c2pa_off_files_carry_no_manifest_but_keep_the_iptc_marking() -> None:
    off = c2pa_settings_from_env({"CI": "true"})
    media = prepare_media(art=CoverArt(_png(_artwork()), "offline"), audio=_clip(), photo=None, c2pa=off)
    for file in media.files:
        assert read_manifest(file.data, file.mime) is None
        assert ALGORITHMIC.encode() in file.data
