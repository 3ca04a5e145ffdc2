"""Philox4x32-10 exactly as FinGen draws it (src/FinGen.Native/Randomness/Philox.cs), in plain Python ints.

Pure Python, no numpy or torch, so that it can be checked anywhere (test_philox.py). The parity check uses it
to give PyTorch the very noise and batch rows that fingen used.

Layout: key = seed (low word, high word); counter = (block low, block high, stream low, stream high); value n
of a stream is lane n % 4 of block n // 4. Normals: Box-Muller in double on the lane pairs (0, 1) and (2, 3),
lanes 0 and 2 take the cosine, 1 and 3 the sine, each rounded once to float32.
"""
import math
import struct

NOISE = 2  # Philox.Stream.Noise: latent z for GANs, epsilon for VAEs
BATCHES = 3  # Philox.Stream.Batches: the training rows of each batch

_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK = 0xFFFFFFFF


def block(seed, stream, index):
    """The four 32-bit words of block `index` of `stream` under `seed`."""
    c0, c1, c2, c3 = index & _MASK, (index >> 32) & _MASK, stream & _MASK, (stream >> 32) & _MASK
    k0, k1 = seed & _MASK, (seed >> 32) & _MASK
    for round_ in range(10):
        if round_ > 0:
            k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
        p0, p1 = _M0 * c0, _M1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & _MASK, (p0 >> 32) ^ c3 ^ k1, p0 & _MASK
    return c0, c1, c2, c3


def word(seed, stream, n):
    """Word n of a stream."""
    return block(seed, stream, n >> 2)[n & 3]


def next_int(seed, stream, n, bound):
    """An integer in [0, bound) from word n: Lemire's multiply-shift, as Philox.NextInt."""
    return (word(seed, stream, n) * bound) >> 32


def to_float32(x):
    """Rounds a double to the nearest float32 (what C#'s (float) cast does)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _open_unit(x):
    return (x + 0.5) * (1.0 / 4294967296.0)


def _box_muller(a, b):
    radius = math.sqrt(-2.0 * math.log(_open_unit(a)))
    angle = 2.0 * math.pi * _open_unit(b)
    return to_float32(radius * math.cos(angle)), to_float32(radius * math.sin(angle))


def normals(seed, stream, offset, count):
    """Standard normals offset .. offset + count - 1 of a stream, as float32 values in Python floats."""
    out = []
    if count <= 0:
        return out
    for index in range(offset >> 2, ((offset + count - 1) >> 2) + 1):
        x0, x1, x2, x3 = block(seed, stream, index)
        lanes = _box_muller(x0, x1) + _box_muller(x2, x3)
        for lane in range(4):
            if offset <= 4 * index + lane < offset + count:
                out.append(lanes[lane])
    return out


def batch_rows(seed, batch_offset, batch_size, row_count):
    """The data rows of one batch: words batch_offset, batch_offset + 1, ... of the batch stream (Trainer.GatherBatch)."""
    return [next_int(seed, BATCHES, batch_offset + i, row_count) for i in range(batch_size)]
