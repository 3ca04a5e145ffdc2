#!/usr/bin/env python3
"""Self-test of philox.py against values printed by FinGen's own C# Philox (plain python3, no torch).

The expected values came from a throwaway console program referencing src/FinGen.Native that printed
Philox.Block, Philox.FillNormal (as float32 bit patterns) and Philox.NextInt for the cases below
(2026-11-28, commit 0b78b63). If Philox.cs changes, regenerate them the same way.
Run: python3 benchmarks/pytorch/test_philox.py   (exit 0: all agree)
"""
import struct
import sys

import philox

BLOCKS = [  # (seed, stream, block) -> four words
    ((42, 2, 0), (1711173798, 2234407014, 1810832730, 2971527349)),
    ((42, 3, 5), (968222744, 799657822, 3356597183, 922826486)),
    ((0x123456789ABCDEF, 2, 0x1_0000_0007), (2269387041, 192322836, 3984273030, 3933419345)),
]

NORMALS = [  # (seed, stream, offset) -> six float32 bit patterns
    ((42, 2, 0), "bfac4020 be302e18 bef05ffe bf9d20a5 3f4c63e5 bf37a8fd"),
    ((42, 2, 6401), "3e5207d5 3ed65ec9 bdcf2e85 3f05d200 3e013dcc bf3a6f12"),
    ((7, 2, 1_000_003), "beb756dc bd66abdc 3f3197ce 3e0f4a5f bf851183 3e8e77c6"),
]

NEXT_INTS = [  # (seed, offset) on stream 3, bound 10000 -> six integers
    ((42, 0), (403, 4456, 7230, 5981, 5221, 1155)),
    ((42, 64), (7265, 266, 2470, 37, 2648, 5361)),
    ((123, 9), (5101, 5871, 6777, 620, 1170, 5057)),
]


def bits(x):
    return f"{struct.unpack('<I', struct.pack('<f', x))[0]:08x}"


def main():
    failures = []
    for args, expected in BLOCKS:
        if philox.block(*args) != expected:
            failures.append(f"block{args}: {philox.block(*args)} != {expected}")
    for (seed, stream, offset), expected in NORMALS:
        got = " ".join(bits(x) for x in philox.normals(seed, stream, offset, 6))
        if got != expected:
            failures.append(f"normals({seed}, {stream}, {offset}): {got} != {expected}")
    for (seed, offset), expected in NEXT_INTS:
        got = tuple(philox.batch_rows(seed, offset, 6, 10000))
        if got != expected:
            failures.append(f"batch_rows({seed}, {offset}): {got} != {expected}")
    # Any split of a draw gives the same values (fingen draws G's and D's noise at consecutive offsets).
    if philox.normals(42, 2, 3, 10) != philox.normals(42, 2, 3, 4) + philox.normals(42, 2, 7, 6):
        failures.append("normals: a split draw differs from one draw")
    for line in failures:
        print("FAIL", line)
    print(f"test_philox: {len(BLOCKS) + len(NORMALS) + len(NEXT_INTS) + 1 - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
