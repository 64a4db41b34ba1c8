#!/usr/bin/env python3
"""MRTD of a TDVF/OVMF image, written from docs/design/measure.md §4.1-§4.2 only (not from
Warden's Rust code), as the independent side of verifier/tests/measure_tdx_ovmf.rs.

    python3 tests/interop/tdx_mrtd.py FIRMWARE      prints "<single-pass hex> <two-pass hex>"

Exit 1 with a message on stderr when the image has no usable TDX metadata. Standard library only.
"""
import hashlib
import struct
import sys
import uuid

FOOTER = uuid.UUID("96b582de-1fb2-45f7-baea-a366c55a082d").bytes_le
TDX_METADATA = uuid.UUID("e47a6535-984a-4798-865e-4685a7bf8ec2").bytes_le
PAGE = 4096


def footer_entries(fw):
    """GUID -> data of the GUIDed table that ends 32 bytes before the end of the file."""
    end = len(fw) - 32
    if fw[end - 16:end] != FOOTER:
        raise SystemExit("no OVMF footer table")
    (total,) = struct.unpack_from("<H", fw, end - 18)
    start, pos = end - total, end - 18
    entries = {}
    while pos > start:
        guid = fw[pos - 16:pos]
        (length,) = struct.unpack_from("<H", fw, pos - 18)
        if length < 18 or pos - length < start:
            raise SystemExit("bad footer table entry")
        entries[guid] = fw[pos - length:pos - 18]
        pos -= length
    return entries


def sections(fw):
    entries = footer_entries(fw)
    if TDX_METADATA not in entries:
        raise SystemExit("no TDX metadata")
    (offset,) = struct.unpack("<I", entries[TDX_METADATA])
    at = len(fw) - offset
    sig, length, version, n = struct.unpack_from("<4sIII", fw, at)
    if sig != b"TDVF" or version != 1 or length != 16 + 32 * n:
        raise SystemExit("bad TDVF descriptor")
    out = []
    for i in range(n):
        data_off, raw, addr, size, kind, attrs = struct.unpack_from("<IIQQII", fw, at + 16 + 32 * i)
        if kind in (0, 1) and (raw != size or data_off + raw > len(fw)):
            raise SystemExit(f"section {i}: BFV/CFV data does not match its memory")
        out.append((data_off, addr, size, attrs & 1))
    return out


def mrtd(fw, two_pass):
    h = hashlib.sha384()

    def add(gpa):
        h.update(b"MEM.PAGE.ADD".ljust(16, b"\0") + struct.pack("<Q", gpa) + bytes(104))

    def extend(data_off, gpa):
        for c in range(0, PAGE, 256):
            h.update(b"MR.EXTEND".ljust(16, b"\0") + struct.pack("<Q", gpa + c) + bytes(104))
            h.update(fw[data_off + c:data_off + c + 256])

    for data_off, addr, size, measured in sections(fw):
        pages = range(0, size, PAGE)
        if two_pass:
            for p in pages:
                add(addr + p)
            if measured:
                for p in pages:
                    extend(data_off + p, addr + p)
        else:
            for p in pages:
                add(addr + p)
                if measured:
                    extend(data_off + p, addr + p)
    return h.hexdigest()


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    with open(sys.argv[1], "rb") as f:
        fw = f.read()
    print(mrtd(fw, False), mrtd(fw, True))


if __name__ == "__main__":
    main()
