#!/usr/bin/env python3
"""Marks symbol-version requirements of an ELF shared library as weak (VER_FLG_WEAK).

Why: TorchSharp 0.107's libLibTorchSharp.so was linked against GCC 13's libstdc++ and so lists
GLIBCXX_3.4.32 among the versions it needs from libstdc++.so.6. Debian 12 ships GLIBCXX up to 3.4.30, and
the dynamic loader refuses to load a library whose *required* version is missing. The only symbol bound to
3.4.32 is std::ios_base_library_init(), which GCC 13's <iostream> references with a bare `.globl` so that
the linker records the dependency; nothing calls it and no relocation points at it. A version requirement
flagged VER_FLG_WEAK is only reported, not enforced (glibc's _dl_check_map_versions), so flipping that one
flag in .gnu.version_r lets the library load while every symbol it really uses keeps its strict version.

Safety: before patching, the script checks that no dynamic relocation refers to a symbol bound to a version
it is about to weaken; if one does, the library would really need the newer libstdc++ and the script fails.
It edits only the two flag bytes of the matching Vernaux entries and is idempotent.

usage: weaken_verneed.py LIBRARY.so VERSION [VERSION...]   (e.g. GLIBCXX_3.4.32)
"""
import struct
import sys

SHT_RELA, SHT_DYNSYM, SHT_GNU_VERNEED, SHT_GNU_VERSYM = 4, 11, 0x6FFFFFFE, 0x6FFFFFFF
VER_FLG_WEAK = 0x2


def fail(message):
    sys.exit(f"weaken_verneed: {message}")


def cstring(data, offset):
    return data[offset:data.index(b"\0", offset)].decode()


def main(path, versions):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        fail(f"{path}: not a little-endian 64-bit ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    # (name, type, flags, addr, offset, size, link, info, addralign, entsize)

    verneed = [s for s in sections if s[1] == SHT_GNU_VERNEED]
    if not verneed:
        fail(f"{path}: no .gnu.version_r section")
    _, _, _, _, vn_offset, _, vn_link, vn_count, _, _ = verneed[0]
    strtab = sections[vn_link][4]

    # Walk Verneed (file) entries and their Vernaux (version) entries.
    targets = {}  # version index -> (offset of vna_flags, name, file)
    entry = vn_offset
    for _ in range(vn_count):
        _, cnt, file_name, aux, next_entry = struct.unpack_from("<HHIII", data, entry)
        library = cstring(data, strtab + file_name)
        aux_at = entry + aux
        for _ in range(cnt):
            _, flags, other, name, next_aux = struct.unpack_from("<IHHII", data, aux_at)
            version = cstring(data, strtab + name)
            if version in versions:
                targets[other] = (aux_at + 4, version, library)
            aux_at += next_aux
        if next_entry == 0:
            break
        entry += next_entry

    missing = set(versions) - {v for _, v, _ in targets.values()}
    if missing:
        fail(f"{path}: does not require {', '.join(sorted(missing))} (already a different build of the library?)")

    # Refuse if any dynamic relocation uses a symbol bound to a version we would weaken.
    dynsym = [s for s in sections if s[1] == SHT_DYNSYM][0]
    versym = [s for s in sections if s[1] == SHT_GNU_VERSYM][0]
    dynstr = sections[dynsym[6]][4]

    def symbol(index):
        name_offset, = struct.unpack_from("<I", data, dynsym[4] + index * dynsym[9])
        version, = struct.unpack_from("<H", data, versym[4] + index * 2)
        return cstring(data, dynstr + name_offset), version & 0x7FFF

    for s in sections:
        if s[1] != SHT_RELA or s[6] != sections.index(dynsym):
            continue
        for r in range(s[5] // s[9]):
            _, info, _ = struct.unpack_from("<QQq", data, s[4] + r * s[9])
            sym = info >> 32
            if sym == 0:
                continue
            name, version = symbol(sym)
            if version in targets:
                fail(f"{path}: relocation against {name}@{targets[version][1]}: the library really uses it, "
                     "so weakening the requirement would break it at run time; install a newer libstdc++ instead")

    changed = []
    for flags_at, version, library in targets.values():
        flags, = struct.unpack_from("<H", data, flags_at)
        if not flags & VER_FLG_WEAK:
            struct.pack_into("<H", data, flags_at, flags | VER_FLG_WEAK)
            changed.append(f"{version} ({library})")
    if changed:
        with open(path, "r+b") as f:
            f.write(data)
        print(f"weaken_verneed: {path}: marked weak: {', '.join(changed)}")
    else:
        print(f"weaken_verneed: {path}: already weak")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        fail("usage: weaken_verneed.py LIBRARY.so VERSION [VERSION...]")
    main(sys.argv[1], set(sys.argv[2:]))
