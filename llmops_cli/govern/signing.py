"""Signatures over evidence: an in-toto Statement in a DSSE envelope, signed with a key or keyless (Sigstore).

Facts this module relies on, read from upstream:
- DSSE v1 (secure-systems-lab/dsse, tag v1.0.0, protocol.md): the signature covers
  PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths as ASCII decimals; the
  envelope is {"payload": b64(body), "payloadType": type, "signatures": [{"keyid", "sig": b64(sig)}]}.
  sigstore-python 4.5.1 (sigstore/dsse/__init__.py, ``_pae``) computes the same bytes.
- in-toto Statement v1 (in-toto/attestation, spec/v1/statement.md): ``_type`` is
  "https://in-toto.io/Statement/v1", ``subject`` a non-empty list of {name, digest: {alg: hex}}, plus
  ``predicateType`` and ``predicate``; the DSSE payloadType is "application/vnd.in-toto+json".
- Keyless signing (sigstore-python 4.5.1, sigstore/sign.py, verify/verifier.py, oidc.py):
  ``SigningContext.from_trust_config(ClientTrustConfig.production())``, ``ctx.signer(IdentityToken(raw))``,
  ``signer.sign_dsse(Statement(bytes))`` -> ``Bundle`` (``to_json``); ``Verifier.production(offline=...)``,
  ``verify_dsse(bundle, policy.Identity(identity=..., issuer=...))`` -> (payload type, payload bytes);
  ``detect_credential()`` finds an ambient OIDC token (GitHub Actions with ``id-token: write``, ...).

Key files are PEM: a PKCS#8 private key (Ed25519 or ECDSA P-256; encrypted ones read their passphrase from
``LLMOPS_SIGNING_KEY_PASSWORD``) and its SubjectPublicKeyInfo public key. A key's id is the SHA-256 of its
DER public key, hex.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_cli.errors import InputError, LlmopsError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "urn:llmops:governance-check:v1"  # a URI (RFC 3986), as the spec asks of predicateType
KEY_ENVELOPE = "manifest.dsse.json"
SIGSTORE_BUNDLE = "manifest.sigstore.json"
SIGNATURE_FILES = (KEY_ENVELOPE, SIGSTORE_BUNDLE)
PASSWORD_ENV = "LLMOPS_SIGNING_KEY_PASSWORD"  # noqa: S105 - a variable name, not a password


class SignatureError(LlmopsError):
    """A signature that does not verify, or a signer that cannot sign: exit 1."""

    code = "signature"


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def statement_bytes(subjects: Sequence[Mapping[str, Any]], predicate: Mapping[str, Any]) -> bytes:
    """The Statement as canonical JSON bytes (sorted keys, no spaces): what is signed."""
    doc = {
        "_type": STATEMENT_TYPE,
        "subject": [dict(s) for s in subjects],
        "predicateType": PREDICATE_TYPE,
        "predicate": dict(predicate),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_statement(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SignatureError(f"the signed payload is not JSON ({e})") from e
    if not isinstance(doc, dict) or doc.get("_type") != STATEMENT_TYPE or doc.get("predicateType") != PREDICATE_TYPE:
        raise SignatureError("the signed payload is not an llmops governance statement (in-toto v1)")
    if not isinstance(doc.get("subject"), list) or not doc["subject"] or not isinstance(doc.get("predicate"), dict):
        raise SignatureError("the signed statement has no subjects or no predicate")
    return doc


# ----------------------------------------------------------------------------------------- keys
def key_id(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _check_algorithm(key: Any, path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) and key.curve.name == "secp256r1":
        return
    raise InputError(f"{path}: unsupported key type", hint="use an Ed25519 or ECDSA P-256 key (`llmops govern keygen`)")


@dataclass(frozen=True)
class KeySigner:
    private_key: Any
    keyid: str
    source: str

    def sign(self, body: bytes) -> dict[str, Any]:
        """A DSSE envelope over ``body`` (a Statement)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        message = pae(PAYLOAD_TYPE, body)
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            sig = self.private_key.sign(message, ec.ECDSA(hashes.SHA256()))
        else:
            sig = self.private_key.sign(message)
        return {
            "payload": base64.b64encode(body).decode("ascii"),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"keyid": self.keyid, "sig": base64.b64encode(sig).decode("ascii")}],
        }

    @property
    def identity(self) -> str:
        return f"key:{self.keyid}"


def load_signer(path: Path, environ: Mapping[str, str]) -> KeySigner:
    from cryptography.hazmat.primitives import serialization

    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(
            f"{path}: cannot read the signing key ({e.strerror})", hint="check governance.signing.key"
        ) from e
    password = environ.get(PASSWORD_ENV)
    try:
        key = serialization.load_pem_private_key(data, password.encode("utf-8") if password else None)
    except TypeError as e:
        hint = f"set {PASSWORD_ENV}" if "encrypted" in str(e).lower() else "pass the private key file"
        raise InputError(f"{path}: {e}", hint=hint) from e
    except ValueError as e:
        raise InputError(
            f"{path}: not a PEM private key, or a wrong passphrase", hint="create one with `llmops govern keygen`"
        ) from e
    _check_algorithm(key, path)
    return KeySigner(key, key_id(key.public_key()), str(path))


def load_public_key(path: Path) -> tuple[str, Any]:
    from cryptography.hazmat.primitives import serialization

    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read the public key ({e.strerror})", hint="pass a PEM public key") from e
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as e:
        raise InputError(f"{path}: not a PEM public key", hint="pass the .pub file `llmops govern keygen` wrote") from e
    _check_algorithm(key, path)
    return key_id(key), key


def generate_key(private_path: Path, public_path: Path, *, force: bool = False) -> str:
    """Write a new Ed25519 key pair (private 0600, public 0644); returns its key id."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from llmops_cli.fsutil import atomic_write

    for p in (private_path, public_path):
        if p.exists() and not force:
            raise InputError(f"{p} exists", hint="pass --force to replace it, or choose another path")
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    atomic_write(private_path, private, mode=0o600)
    atomic_write(public_path, public, mode=0o644)
    return key_id(key.public_key())


def verify_envelope(raw: bytes, trusted: Mapping[str, Any]) -> tuple[bytes, str]:
    """The statement bytes and the signer's identity (``key:<id>``) of a DSSE envelope signed by a trusted key.

    Raises SignatureError when no signature verifies with a trusted key; names the key ids it saw."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        env = json.loads(raw)
        body = base64.b64decode(env["payload"], validate=True)
        ptype = env["payloadType"]
        sigs = env["signatures"]
        if not isinstance(sigs, list) or not sigs:
            raise ValueError("no signatures")
    except (ValueError, KeyError, TypeError) as e:
        raise SignatureError(f"{KEY_ENVELOPE} is not a DSSE envelope ({e})") from e
    if ptype != PAYLOAD_TYPE:
        raise SignatureError(f"{KEY_ENVELOPE}: payloadType {ptype!r}, expected {PAYLOAD_TYPE!r}")
    message = pae(ptype, body)
    seen = []
    for s in sigs:
        kid = str(s.get("keyid", "")) if isinstance(s, dict) else ""
        seen.append(kid[:16] or "(none)")
        key = trusted.get(kid)
        if key is None:
            continue
        try:
            sig = base64.b64decode(s["sig"], validate=True)
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
            else:
                key.verify(sig, message)
        except (InvalidSignature, ValueError, KeyError, TypeError) as e:
            raise SignatureError(f"the signature by key {kid[:16]} does not verify: the bundle was changed") from e
        return body, f"key:{kid}"
    if not trusted:
        raise SignatureError(
            f"signed by key {', '.join(seen)}, but no trusted public key was given",
            hint="pass --key FILE or set governance.signing.public_keys",
        )
    raise SignatureError(
        f"signed by key {', '.join(seen)}, which is not a trusted key ({', '.join(k[:16] for k in sorted(trusted))})",
        hint="verify with the signer's public key (--key)",
    )


def envelope_keyids(raw: bytes) -> list[str]:
    try:
        return [str(s.get("keyid", "")) for s in json.loads(raw).get("signatures", [])]
    except (ValueError, AttributeError):
        return []


# ----------------------------------------------------------------------------------------- Sigstore (keyless)
def sigstore_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("sigstore") is not None


def ambient_oidc_token() -> str | None:
    """An OIDC identity token from the CI environment, or None (also when sigstore is not installed)."""
    if not sigstore_available():
        return None
    from sigstore.oidc import IdentityError, detect_credential

    try:
        return detect_credential()
    except IdentityError:
        return None


@dataclass(frozen=True)
class SigstoreSigner:
    token: str
    staging: bool = False

    def sign(self, body: bytes) -> dict[str, Any]:
        from sigstore.dsse import Statement
        from sigstore.models import ClientTrustConfig
        from sigstore.oidc import IdentityToken
        from sigstore.sign import SigningContext

        try:
            config = ClientTrustConfig.staging() if self.staging else ClientTrustConfig.production()
            ctx = SigningContext.from_trust_config(config)
            with ctx.signer(IdentityToken(self.token)) as signer:
                bundle = signer.sign_dsse(Statement(body))
        except Exception as e:  # sigstore raises many types (network, OIDC, Fulcio, Rekor)
            raise SignatureError(f"keyless signing with Sigstore failed: {e}", hint="check the CI's OIDC token") from e
        out: dict[str, Any] = json.loads(bundle.to_json())
        return out

    @property
    def identity(self) -> str:
        from sigstore.oidc import IdentityToken

        token = IdentityToken(self.token)
        return f"sigstore:{token.identity} ({token.issuer})"


def verify_sigstore(
    raw: bytes, *, identity: str | None, issuer: str | None, offline: bool = False
) -> tuple[bytes, str]:
    """The statement bytes of a Sigstore bundle whose certificate names ``identity`` issued by ``issuer``."""
    if not sigstore_available():
        raise SignatureError(
            f"{SIGSTORE_BUNDLE}: Sigstore support is not installed", hint="pip install 'llmops[sigstore]'"
        )
    if not identity or not issuer:
        raise SignatureError(
            "the bundle is signed keyless (Sigstore): name the signer to trust",
            hint="pass --cert-identity and --cert-oidc-issuer (or governance.signing.identity / issuer)",
        )
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle
    from sigstore.verify import Verifier, policy

    try:
        bundle = Bundle.from_json(raw)
        ptype, body = Verifier.production(offline=offline).verify_dsse(
            bundle, policy.Identity(identity=identity, issuer=issuer)
        )
    except (SigstoreError, ValueError) as e:
        raise SignatureError(f"{SIGSTORE_BUNDLE} does not verify: {e}") from e
    if ptype != PAYLOAD_TYPE:
        raise SignatureError(f"{SIGSTORE_BUNDLE}: payloadType {ptype!r}, expected {PAYLOAD_TYPE!r}")
    return body, f"sigstore:{identity} ({issuer})"
