"""The dedup hash: a 64-bit non-cryptographic hash over packet bytes.

Two 32-bit lanes run over the input four bytes at a time (murmur3's block mix in
lane A, a multiply-xorshift in lane B), then each lane is finalised with
murmur3's ``fmix32``. The result is written as 8 big-endian bytes into a
caller-supplied buffer, because a 32-bit value returned from viper would
allocate a big int on a 32-bit chip.

``hash64_into`` is the viper version on MicroPython and the pure-Python version
elsewhere; both give bit-identical output (checked against vectors in the tests
under both runtimes). Integrity never relies on this hash: it only keys dedup.
"""

from .compat import MICROPYTHON

_C1 = 0xCC9E2D51
_C2 = 0x1B873593
_C3 = 0x85EBCA6B
_C4 = 0xC2B2AE35
_SEED_A = 0x9747B28C
_SEED_B = 0x2545F491
_M32 = 0xFFFFFFFF


def hash64_into_py(data: "bytes | bytearray | memoryview", n: int, out: bytearray) -> None:
    """Pure-Python reference: hash ``data[:n]`` into ``out[0:8]``."""
    a = _SEED_A ^ n
    b = _SEED_B
    i = 0
    end4 = n & ~3
    while i < end4:
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _C1) & _M32
        k = ((k << 15) | (k >> 17)) & _M32
        k = (k * _C2) & _M32
        a ^= k
        a = ((a << 13) | (a >> 19)) & _M32
        a = (a * 5 + 0xE6546B64) & _M32
        b = ((b ^ k) * 0x01000193) & _M32
        b ^= b >> 15
        i += 4
    k = 0
    s = 0
    while i < n:
        k |= data[i] << s
        s += 8
        i += 1
    k = (k * _C1) & _M32
    k = ((k << 15) | (k >> 17)) & _M32
    k = (k * _C2) & _M32
    a ^= k
    b = ((b ^ k ^ n) * 0x01000193) & _M32
    for lane in (0, 1):
        h = a if lane == 0 else b
        h ^= h >> 16
        h = (h * _C3) & _M32
        h ^= h >> 13
        h = (h * _C4) & _M32
        h ^= h >> 16
        o = lane * 4
        out[o] = (h >> 24) & 0xFF
        out[o + 1] = (h >> 16) & 0xFF
        out[o + 2] = (h >> 8) & 0xFF
        out[o + 3] = h & 0xFF


def _hash64_into_cpython(data: "bytes | bytearray | memoryview", n: int, out: bytearray) -> None:
    """The same function as :func:`hash64_into_py`, faster on CPython: words are
    unpacked in one struct call (the simulator hashes millions of frames)."""
    import struct

    nw = n >> 2
    a = _SEED_A ^ n
    b = _SEED_B
    m = _M32
    for k in struct.unpack_from("<%dI" % nw, data, 0) if nw else ():
        k = (k * 0xCC9E2D51) & m
        k = ((k << 15) | (k >> 17)) & m
        k = (k * 0x1B873593) & m
        a ^= k
        a = ((a << 13) | (a >> 19)) & m
        a = (a * 5 + 0xE6546B64) & m
        b = ((b ^ k) * 0x01000193) & m
        b ^= b >> 15
    k = int.from_bytes(bytes(data[nw * 4 : n]), "little")
    k = (k * 0xCC9E2D51) & m
    k = ((k << 15) | (k >> 17)) & m
    k = (k * 0x1B873593) & m
    a ^= k
    b = ((b ^ k ^ n) * 0x01000193) & m
    a ^= a >> 16
    a = (a * 0x85EBCA6B) & m
    a ^= a >> 13
    a = (a * 0xC2B2AE35) & m
    a ^= a >> 16
    b ^= b >> 16
    b = (b * 0x85EBCA6B) & m
    b ^= b >> 13
    b = (b * 0xC2B2AE35) & m
    b ^= b >> 16
    struct.pack_into(">II", out, 0, a, b)


hash64_into = hash64_into_py if MICROPYTHON else _hash64_into_cpython

if MICROPYTHON:
    import micropython  # type: ignore[import-not-found,unused-ignore]

    # Viper: every literal above 0x3FFFFFFF is wrapped in uint(), and every
    # product is masked to 32 bits so a 64-bit unix port matches the ESP32.
    @micropython.viper  # type: ignore[misc,untyped-decorator,unused-ignore]
    def _hash64_viper(data, n: int, out):  # type: ignore[no-untyped-def]
        p = ptr8(data)  # type: ignore[name-defined]  # noqa: F821
        o = ptr8(out)  # type: ignore[name-defined]  # noqa: F821
        m = uint(0xFFFFFFFF)  # type: ignore[name-defined]  # noqa: F821
        a = (uint(0x9747B28C) ^ uint(n)) & m  # type: ignore[name-defined]  # noqa: F821
        b = uint(0x2545F491)  # type: ignore[name-defined]  # noqa: F821
        c1 = uint(0xCC9E2D51)  # type: ignore[name-defined]  # noqa: F821
        c2 = uint(0x1B873593)  # type: ignore[name-defined]  # noqa: F821
        add = uint(0xE6546B64)  # type: ignore[name-defined]  # noqa: F821
        end4 = n & (0 - 4)
        i = 0
        while i < end4:
            k = uint(p[i]) | (uint(p[i + 1]) << 8) | (uint(p[i + 2]) << 16) | (uint(p[i + 3]) << 24)  # type: ignore[name-defined]  # noqa: F821,E501
            k = (k * c1) & m
            k = ((k << 15) | (k >> 17)) & m
            k = (k * c2) & m
            a = a ^ k
            a = ((a << 13) | (a >> 19)) & m
            a = (a * 5 + add) & m
            b = ((b ^ k) * 0x01000193) & m
            b = b ^ (b >> 15)
            i += 4
        k = uint(0)  # type: ignore[name-defined]  # noqa: F821
        s = 0
        while i < n:
            k = k | (uint(p[i]) << s)  # type: ignore[name-defined]  # noqa: F821
            s += 8
            i += 1
        k = (k * c1) & m
        k = ((k << 15) | (k >> 17)) & m
        k = (k * c2) & m
        a = a ^ k
        b = ((b ^ k ^ uint(n)) * 0x01000193) & m  # type: ignore[name-defined]  # noqa: F821
        c3 = uint(0x85EBCA6B)  # type: ignore[name-defined]  # noqa: F821
        c4 = uint(0xC2B2AE35)  # type: ignore[name-defined]  # noqa: F821
        h = a
        lane = 0
        while lane < 2:
            h = h ^ (h >> 16)
            h = (h * c3) & m
            h = h ^ (h >> 13)
            h = (h * c4) & m
            h = h ^ (h >> 16)
            j = lane * 4
            o[j] = (h >> 24) & 0xFF
            o[j + 1] = (h >> 16) & 0xFF
            o[j + 2] = (h >> 8) & 0xFF
            o[j + 3] = h & 0xFF
            h = b
            lane += 1

    hash64_into = _hash64_viper  # noqa: F811


def hash64(data: bytes) -> bytes:
    """Convenience wrapper returning a fresh 8-byte digest (allocates)."""
    out = bytearray(8)
    hash64_into(data, len(data), out)
    return bytes(out)
