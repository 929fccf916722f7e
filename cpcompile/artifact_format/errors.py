"""Every way an artifact, a signature or a key file can be refused: one hierarchy.

    ArtifactError                  the artifact cannot be used
        ArtifactCorrupt            truncated, not JSON / msgpack, not canonical, wrong shape
        UnknownFormat              not a cpcompile artifact
        UnsupportedVersion         newer than this reader
        RevisionMismatch           the body does not hash to the recorded revision
        SignatureError             (only raised when a public key is given)
            SignatureMissing       no signature to check
            SignatureInvalid       the signature does not prove the key's holder signed it
                MalformedSignature     not a cpcompile signature file
                UnsupportedAlgorithm   another algorithm than ed25519
                SignatureForOtherRevision  made for another artifact
                KeyMismatch            made with another key
                BadSignature           does not verify
    KeyFileError (a ValueError)    a key file or key text is missing, of the wrong kind, malformed

Standard library only, and nothing imported: the runtime imports this on every replica.
"""

from __future__ import annotations


class ArtifactError(Exception):
    """The artifact cannot be used; the message says why, for a human."""


class ArtifactCorrupt(ArtifactError):
    """Truncated, not JSON / msgpack, or not shaped like a cpcompile artifact of its version."""


class UnknownFormat(ArtifactError):
    """Decodes fine but is not a cpcompile artifact (no or another ``format``)."""


class UnsupportedVersion(ArtifactError):
    """A newer ``schema_version`` or ``min_reader_version`` than this reader supports."""


class RevisionMismatch(ArtifactError):
    """The body does not hash to the recorded revision: edited, damaged or re-formatted."""


class SignatureError(ArtifactError):
    """Base of the signature failures (only raised when a public key is given)."""


class SignatureMissing(SignatureError):
    """A public key was given but there is no signature to check."""


class SignatureInvalid(SignatureError):
    """The signature is malformed, for another revision or key, or does not verify."""


class MalformedSignature(SignatureInvalid):
    """The signature file cannot be read as a cpcompile signature."""


class UnsupportedAlgorithm(SignatureInvalid):
    """The signature names an algorithm other than ed25519."""


class SignatureForOtherRevision(SignatureInvalid):
    """The signature is for another revision than the artifact's."""


class KeyMismatch(SignatureInvalid):
    """The signature was made with another key than the one given."""


class BadSignature(SignatureInvalid):
    """The signature bytes do not verify."""


class KeyFileError(ValueError):
    """A key file (or key text) is missing, of the wrong kind or malformed."""
