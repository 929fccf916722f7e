"""The artifact format: the one place that says what an artifact is.

* ``body``      the body's key names and shape, declared once (the compiler builds entries
                from it, the runtime checks against it, the JSON Schema is generated from it)
* ``document``  header, versions, canonical encoding, revision; reading a document back
* ``errors``    every refusal: ``ArtifactError`` and its subclasses, ``KeyFileError``
* ``keys``      key file text, the public-key parser
* ``signature`` signature files and ``check_signature``
* ``ed25519``   the bundled, standard-library Ed25519 that verifies
* ``encode``    body -> artifact.json and artifact.msgpack bytes (compiler only: msgpack)
* ``signer``    private keys, key pairs, signing (compiler only: cryptography)

All but the last two are standard library only and import in well under a millisecond: the
runtime uses them on every replica. README.md beside this file says how to change the format.
"""
