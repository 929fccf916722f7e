"""Ed25519 signatures (RFC 8032, "PureEdDSA" over edwards25519), standard library only.

Bundled so that verifying a signed artifact needs nothing beyond the Python standard library.
``cpcompile`` signs with ``cryptography`` (``signer``); ``sign`` here is the reference the tests
hold that against, byte for byte.

* ``public_key_from_seed(seed)``: 32-byte seed (the RFC's "private key") -> 32-byte public key
* ``sign(seed, message)``: deterministic 64-byte signature
* ``verify(public_key, message, signature)``: ``True`` or ``False``; never raises for malformed
  input of the right types (wrong lengths, S >= L, encodings that are not points all give
  ``False``), raises ``TypeError`` for arguments that are not bytes-like.

Verification is the "cofactorless" check of RFC 8032 section 5.1.7 as done by the reference
implementation and OpenSSL: recompute R' = [S]B - [k]A and compare its encoding with the R
half of the signature byte for byte, so a non-canonical R never verifies. Public keys must be
canonical encodings (y < p) of points on the curve and not of small order (the eight points
with [8]A = 0 have no secret key: anyone can make signatures that verify under them, and no
real key is one); S must be reduced (S < L).

Speed: points use extended twisted Edwards coordinates (X:Y:Z:T). [s]B uses a table of signed
radix-16 multiples of the base point built on first use (512 affine points, 64 additions per
multiplication, no doublings); [k]A uses a width-5 wNAF. This code is NOT constant-time: its
running time depends on the secret scalars when signing, which is why nothing signs with it
outside the tests. Verifying handles public data only. See docs/signing.md.
"""

from __future__ import annotations

import hashlib

__all__ = [
    "public_key_from_seed",
    "sign",
    "verify",
    "SEED_SIZE",
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
]

SEED_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

# field prime, group order, curve constant d = -121665/121666, 2d, sqrt(-1)
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P
D2 = 2 * D % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

# base point B: y = 4/5, x even
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
BASE = (_BX, _BY, 1, _BX * _BY % P)
IDENTITY = (0, 1, 1, 0)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Tuple

    _Point = Tuple[int, int, int, int]  # (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z


def _add(p: _Point, q: _Point) -> _Point:
    """Complete addition (add-2008-hwcd-3, a = -1); also correct for p == q and the identity."""
    X1, Y1, Z1, T1 = p
    X2, Y2, Z2, T2 = q
    a = (Y1 - X1) * (Y2 - X2) % P
    b = (Y1 + X1) * (Y2 + X2) % P
    c = T1 * D2 % P * T2 % P
    d = Z1 * 2 * Z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(p: _Point) -> _Point:
    """Doubling (dbl-2008-hwcd, RFC 8032 section 5.1.4)."""
    X1, Y1, Z1, _ = p
    a = X1 * X1 % P
    b = Y1 * Y1 % P
    c = 2 * Z1 * Z1 % P
    h = a + b
    e = (h - (X1 + Y1) * (X1 + Y1)) % P
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _encode(p: _Point) -> bytes:
    X, Y, Z, _ = p
    zinv: int = pow(Z, -1, P)
    x = X * zinv % P
    y = Y * zinv % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode(s: bytes) -> _Point | None:
    """RFC 8032 section 5.1.3; ``None`` when ``s`` is not the canonical encoding of a point."""
    n = int.from_bytes(s, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    if y >= P:
        return None
    yy = y * y % P
    u = (yy - 1) % P
    v = (D * yy + 1) % P
    v3 = v * v % P * v % P
    x = u * v3 % P * pow(u * v3 % P * v3 % P * v % P, (P - 5) // 8, P) % P
    vxx = v * x % P * x % P
    if vxx == u:
        pass
    elif vxx == (-u) % P:
        x = x * SQRT_M1 % P
    else:
        return None
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = P - x
    return (x, y, 1, x * y % P)


# --- fixed-base multiplication -------------------------------------------------------------------

# _BASE_TABLE[i][j] = (j + 1) * 16**i * B as affine "Niels" triples (y + x, y - x, 2*d*x*y)
_BASE_TABLE: list[list[tuple[int, int, int]]] | None = None


def _base_table() -> list[list[tuple[int, int, int]]]:
    global _BASE_TABLE
    if _BASE_TABLE is None:
        points: list[_Point] = []
        pi = BASE
        for _ in range(64):
            m = pi
            points.append(m)
            for _ in range(7):
                m = _add(m, pi)
                points.append(m)
            pi = _double(m)  # 16 * pi = 2 * (8 * pi)
        # batch inversion of the Z coordinates (Montgomery's trick)
        prefix = []
        acc = 1
        for pt in points:
            prefix.append(acc)
            acc = acc * pt[2] % P
        inv = pow(acc, -1, P)
        zinvs = [0] * len(points)
        for idx in range(len(points) - 1, -1, -1):
            zinvs[idx] = inv * prefix[idx] % P
            inv = inv * points[idx][2] % P
        flat = []
        for pt, zi in zip(points, zinvs):
            x = pt[0] * zi % P
            y = pt[1] * zi % P
            flat.append(((y + x) % P, (y - x) % P, D2 * x % P * y % P))
        _BASE_TABLE = [flat[8 * i : 8 * i + 8] for i in range(64)]
    return _BASE_TABLE


def _base_mult(k: int) -> _Point:
    """[k]B for 0 <= k < 2**255, as a sum of signed radix-16 digits times precomputed points."""
    table = _base_table()
    # signed digits in [-8, 8): k = sum(e[i] * 16**i)
    digits = []
    carry = 0
    for i in range(64):
        e = ((k >> (4 * i)) & 15) + carry
        carry = (e + 8) >> 4
        digits.append(e - (carry << 4))
    # k < 2**255 makes the final carry fold into the top digit without overflow
    digits[63] += carry << 4
    X, Y, Z, T = 0, 1, 1, 0
    for i in range(64):
        e = digits[i]
        if e == 0:
            continue
        if e > 0:
            ypx, ymx, xy2d = table[i][e - 1]
        else:
            ymx, ypx, xy2d = table[i][-e - 1]
            xy2d = P - xy2d
        # mixed addition with an affine point (Z2 = 1)
        a = (Y - X) * ymx % P
        b = (Y + X) * ypx % P
        c = T * xy2d % P
        d = 2 * Z
        e_, f, g, h = b - a, d - c, d + c, b + a
        X, Y, Z, T = e_ * f % P, g * h % P, f * g % P, e_ * h % P
    return (X, Y, Z, T)


# --- variable-base multiplication ----------------------------------------------------------------


def _wnaf(k: int, w: int = 5) -> list[int]:
    """Width-w NAF, least significant digit first; nonzero digits odd, |digit| < 2**(w-1)."""
    digits = []
    window = 1 << w
    half = window >> 1
    while k:
        if k & 1:
            d = k & (window - 1)
            if d >= half:
                d -= window
            k -= d
        else:
            d = 0
        digits.append(d)
        k >>= 1
    return digits


def _var_mult(k: int, pt: _Point) -> _Point:
    """[k]pt for k >= 0 (variable time)."""
    digits = _wnaf(k)
    if not digits:
        return IDENTITY
    # odd multiples pt, 3pt, ..., 15pt in "cached" form (Y+X, Y-X, 2Z, 2dT)
    twice = _double(pt)
    odd = [pt]
    for _ in range(7):
        odd.append(_add(odd[-1], twice))
    cached = [((Y + X) % P, (Y - X) % P, 2 * Z % P, D2 * T % P) for X, Y, Z, T in odd]

    top = len(digits) - 1
    X, Y, Z, T = odd[(digits[top] - 1) >> 1]  # the top digit is positive
    for i in range(top - 1, -1, -1):
        # doubling; T is only needed (and computed) before an addition
        a = X * X % P
        b = Y * Y % P
        c = 2 * Z * Z % P
        h = a + b
        e = (h - (X + Y) * (X + Y)) % P
        g = a - b
        f = c + g
        X, Y, Z = e * f % P, g * h % P, f * g % P
        d = digits[i]
        if d:
            T = e * h % P
            if d > 0:
                ypx, ymx, z2, t2d = cached[(d - 1) >> 1]
            else:
                ymx, ypx, z2, t2d = cached[(-d - 1) >> 1]
                t2d = P - t2d
            a = (Y - X) * ymx % P
            b = (Y + X) * ypx % P
            c = T * t2d % P
            dd = Z * z2 % P
            e, f, g, h = b - a, dd - c, dd + c, b + a
            X, Y, Z, T = e * f % P, g * h % P, f * g % P, e * h % P
        elif i == 0:
            T = e * h % P  # the caller needs a complete point
    return (X, Y, Z, T)


def _is_small_order(pt: _Point) -> bool:
    """Whether [8]pt is the identity (one of the 8 points of order dividing the cofactor)."""
    q = _double(_double(_double(pt)))
    return q[0] % P == 0 and (q[1] - q[2]) % P == 0


# --- EdDSA ---------------------------------------------------------------------------------------


def _as_bytes(value: object, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes, not {type(value).__name__}")


def _expand_seed(seed: bytes) -> tuple[int, bytes]:
    if len(seed) != SEED_SIZE:
        raise ValueError(f"an Ed25519 seed is {SEED_SIZE} bytes, got {len(seed)}")
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def _sha512_int(*parts: bytes) -> int:
    h = hashlib.sha512()
    for part in parts:
        h.update(part)
    return int.from_bytes(h.digest(), "little")


def public_key_from_seed(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte seed."""
    seed = _as_bytes(seed, "seed")
    a, _ = _expand_seed(seed)
    return _encode(_base_mult(a % L))


def sign(seed: bytes, message: bytes) -> bytes:
    """The deterministic 64-byte Ed25519 signature of ``message`` under ``seed``."""
    seed = _as_bytes(seed, "seed")
    message = _as_bytes(message, "message")
    a, prefix = _expand_seed(seed)
    public = _encode(_base_mult(a % L))
    r = _sha512_int(prefix, message) % L
    r_enc = _encode(_base_mult(r))
    k = _sha512_int(r_enc, public, message) % L
    s = (r + k * a) % L
    return r_enc + s.to_bytes(32, "little")


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` under ``public_key``."""
    public_key = _as_bytes(public_key, "public_key")
    message = _as_bytes(message, "message")
    signature = _as_bytes(signature, "signature")
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    a_point = _decode(public_key)
    if a_point is None or _is_small_order(a_point):
        return False
    r_enc = signature[:32]
    k = _sha512_int(r_enc, public_key, message) % L
    X, Y, Z, T = a_point
    minus_a = ((-X) % P, Y, Z, (-T) % P)
    r_check = _add(_base_mult(s), _var_mult(k, minus_a))
    return _encode(r_check) == r_enc
