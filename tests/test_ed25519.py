"""The bundled pure-Python Ed25519: RFC 8032 vectors, an independent cross-check, rejections."""

from __future__ import annotations

import hashlib
import random

import pytest

from cpcompile.artifact_format import ed25519 as ed

# RFC 8032 section 7.1: (name, SECRET KEY, PUBLIC KEY, MESSAGE, SIGNATURE), hex
RFC8032_VECTORS = [
    (
        "TEST 1",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "TEST 2",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "TEST 3",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "TEST 1024",
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
        "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
        "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
        "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
        "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
        "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
        "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
        "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
        "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
        "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
        "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
        "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
        "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
        "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
        "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
        "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
        "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
        "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
        "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
        "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
        "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
        "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
        "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
        "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
        "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
        "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
        "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
        "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
        "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
        "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
        "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
        "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
        "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
        "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    ),
    (
        "TEST SHA(abc)",
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
        "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
]

VECTOR_IDS = [v[0] for v in RFC8032_VECTORS]
L = 2**252 + 27742317777372353535851937790883648493
P = 2**255 - 19


def _vector(vec):
    _, secret, public, message, signature = vec
    return (
        bytes.fromhex(secret),
        bytes.fromhex(public),
        bytes.fromhex(message),
        bytes.fromhex(signature),
    )


def test_vector_messages_are_as_described():
    # the "TEST 1024" message is 1023 bytes long, as printed in the RFC
    assert len(_vector(RFC8032_VECTORS[3])[2]) == 1023
    # the "TEST SHA(abc)" message is SHA-512("abc")
    assert _vector(RFC8032_VECTORS[4])[2] == hashlib.sha512(b"abc").digest()


@pytest.mark.parametrize("vec", RFC8032_VECTORS, ids=VECTOR_IDS)
def test_rfc8032_public_key(vec):
    seed, public, _, _ = _vector(vec)
    assert ed.public_key_from_seed(seed) == public


@pytest.mark.parametrize("vec", RFC8032_VECTORS, ids=VECTOR_IDS)
def test_rfc8032_sign(vec):
    seed, _, message, signature = _vector(vec)
    assert ed.sign(seed, message) == signature


@pytest.mark.parametrize("vec", RFC8032_VECTORS, ids=VECTOR_IDS)
def test_rfc8032_verify(vec):
    _, public, message, signature = _vector(vec)
    assert ed.verify(public, message, signature) is True


@pytest.mark.parametrize("vec", RFC8032_VECTORS, ids=VECTOR_IDS)
def test_rfc8032_tampered(vec):
    _, public, message, signature = _vector(vec)
    # any flipped bit in R, in S, in the message or in the key is rejected
    for i in (0, 17, 31, 32, 45, 63):
        bad = bytearray(signature)
        bad[i] ^= 0x01
        assert ed.verify(public, message, bytes(bad)) is False
    assert ed.verify(public, message + b"\x00", signature) is False
    if message:
        flipped = bytearray(message)
        flipped[len(message) // 2] ^= 0x80
        assert ed.verify(public, bytes(flipped), signature) is False
    for i in (0, 31):
        bad_key = bytearray(public)
        bad_key[i] ^= 0x02
        assert ed.verify(bytes(bad_key), message, signature) is False


def test_wrong_key_from_another_vector():
    for i, vec in enumerate(RFC8032_VECTORS):
        _, _, message, signature = _vector(vec)
        other_public = _vector(RFC8032_VECTORS[(i + 1) % len(RFC8032_VECTORS)])[1]
        assert ed.verify(other_public, message, signature) is False


def test_deterministic():
    seed = bytes(range(32))
    assert ed.sign(seed, b"sha256:abc") == ed.sign(seed, b"sha256:abc")
    assert ed.sign(seed, b"sha256:abc") != ed.sign(seed, b"sha256:abd")


def test_bytes_like_inputs_are_accepted():
    seed, public, message, signature = _vector(RFC8032_VECTORS[2])
    assert ed.public_key_from_seed(bytearray(seed)) == public
    assert ed.sign(memoryview(seed), bytearray(message)) == signature
    assert ed.verify(bytearray(public), memoryview(message), bytearray(signature)) is True


# --- malformed input: False, never an exception ---------------------------------------------------


def test_non_canonical_s_rejected():
    _, public, message, signature = _vector(RFC8032_VECTORS[0])
    s = int.from_bytes(signature[32:], "little")
    for bad_s in (s + L, L, 2**256 - 1):
        assert bad_s < 2**256
        bad = signature[:32] + bad_s.to_bytes(32, "little")
        assert ed.verify(public, message, bad) is False


def test_wrong_lengths_return_false():
    _, public, message, signature = _vector(RFC8032_VECTORS[1])
    for key in (b"", public[:31], public + b"\x00", public * 2):
        assert ed.verify(key, message, signature) is False
    for sig in (b"", signature[:63], signature + b"\x00", signature[:32]):
        assert ed.verify(public, message, sig) is False


def _not_on_curve_encoding() -> bytes:
    # the smallest y for which x^2 = (y^2 - 1) / (d y^2 + 1) has no square root
    for y in range(2, 100):
        enc = y.to_bytes(32, "little")
        if ed._decode(enc) is None:
            return enc
    raise AssertionError("no such y below 100")


def test_public_key_not_on_curve_rejected():
    _, _, message, signature = _vector(RFC8032_VECTORS[0])
    assert ed.verify(_not_on_curve_encoding(), message, signature) is False


def test_non_canonical_public_key_rejected():
    _, _, message, signature = _vector(RFC8032_VECTORS[0])
    # y = p + 1 encodes the same y as 1 but is not canonical; y = 2**255 - 1 is out of range
    for y in (P + 1, 2**255 - 1):
        enc = y.to_bytes(32, "little")
        assert ed.verify(enc, message, signature) is False
    # x = 0 with the sign bit set is not a valid encoding
    assert ed.verify((1 | (1 << 255)).to_bytes(32, "little"), message, signature) is False


def test_small_order_public_key_rejected():
    # with A = identity, (R = [S]B, S) would verify for every message under the cofactorless
    # equation; such keys are refused outright
    identity = (1).to_bytes(32, "little")
    s = 12345
    forged = ed._encode(ed._base_mult(s)) + s.to_bytes(32, "little")
    assert ed.verify(identity, b"anything", forged) is False
    assert ed.verify(identity, b"anything else", forged) is False
    # the point of order 2, (0, -1)
    assert ed.verify((P - 1).to_bytes(32, "little"), b"x", forged) is False


def test_signature_r_not_a_point_rejected():
    _, public, message, signature = _vector(RFC8032_VECTORS[0])
    bad = _not_on_curve_encoding() + signature[32:]
    assert ed.verify(public, message, bad) is False


def test_all_zero_and_all_ff_inputs():
    for key in (bytes(32), b"\xff" * 32):
        for sig in (bytes(64), b"\xff" * 64):
            assert ed.verify(key, b"m", sig) is False


def test_type_errors():
    _, public, message, signature = _vector(RFC8032_VECTORS[0])
    with pytest.raises(TypeError):
        ed.verify(public.hex(), message, signature)
    with pytest.raises(TypeError):
        ed.verify(public, "message", signature)
    with pytest.raises(TypeError):
        ed.verify(public, message, None)
    with pytest.raises(TypeError):
        ed.sign("seed" * 8, message)
    with pytest.raises(TypeError):
        ed.sign(bytes(32), 5)
    with pytest.raises(TypeError):
        ed.public_key_from_seed(list(range(32)))


def test_seed_of_wrong_length():
    with pytest.raises(ValueError):
        ed.sign(bytes(31), b"m")
    with pytest.raises(ValueError):
        ed.public_key_from_seed(bytes(64))


# --- scalar multiplication against a plain double-and-add -----------------------------------------


def _naive_mult(k, pt):
    q = ed.IDENTITY
    for bit in bin(k)[2:]:
        q = ed._double(q)
        if bit == "1":
            q = ed._add(q, pt)
    return q


def test_scalar_multiplication_matches_double_and_add():
    rng = random.Random(25519)
    point = ed._base_mult(rng.randrange(1, L))
    scalars = [0, 1, 2, 3, 15, 16, 17, 31, 32, 33, L - 1, 2**252, 2**253 - 1]
    scalars += [rng.randrange(L) for _ in range(20)]
    for k in scalars:
        assert ed._encode(ed._base_mult(k)) == ed._encode(_naive_mult(k, ed.BASE)), k
        # adding a point afterwards uses T, so this also checks the full result
        got = ed._add(ed._var_mult(k, point), ed.BASE)
        want = ed._add(_naive_mult(k, point), ed.BASE)
        assert ed._encode(got) == ed._encode(want), k


# --- cross-check against an independent implementation --------------------------------------------


def test_cross_check_with_cryptography():
    pytest.importorskip("cryptography")
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    rng = random.Random(8032)
    for i in range(50):
        seed = rng.randbytes(32)
        message = rng.randbytes(rng.choice([0, 1, 7, 32, 71, 200, 1000]))
        theirs = Ed25519PrivateKey.from_private_bytes(seed)
        public = theirs.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        assert ed.public_key_from_seed(seed) == public

        ours_sig = ed.sign(seed, message)
        their_sig = theirs.sign(message)
        assert ours_sig == their_sig  # byte-identical: both deterministic per RFC 8032

        # ours verifies there, theirs verifies here
        Ed25519PublicKey.from_public_bytes(public).verify(ours_sig, message)
        assert ed.verify(public, message, their_sig) is True

        # and both reject the same tampering
        bad = bytearray(ours_sig)
        bad[i % 64] ^= 1 << (i % 8)
        assert ed.verify(public, message, bytes(bad)) is False
        with pytest.raises(InvalidSignature):
            Ed25519PublicKey.from_public_bytes(public).verify(bytes(bad), message)
