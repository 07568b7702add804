"""Reading and damaging a storage node's volume files, for the tests.

The format is storage-node/src/volume.rs's: DIR/node-N/volumes/<16 hex>.vol,
a 4 KiB header page (magic "SHLVOLUM", version, seq, 16-byte nonce, CRC32),
then records on 4 KiB boundaries: a 32-byte prefix ("SHLR", the nonce, the
chunk length, CRC32) followed by the chunk (header "SHLCHUNK" ... with the
chunk id, data blocks each followed by a CRC32, BLAKE3 trailer).
"""

import ctypes
import ctypes.util
import os
import struct
import zlib
from collections import namedtuple
from pathlib import Path

PAGE = 4096
PREFIX_LEN = 32
CHUNK_FIXED_HEADER = 24  # magic 8, version 2, block size 4, data len 8, id len 2

# One chunk record: which node, which volume file, where, and its id.
Record = namedtuple("Record", "node volume offset chunk_len chunk_id header_len")


def _align_up(n):
    return (n + PAGE - 1) // PAGE * PAGE


def volume_records(path, node):
    """The records of one volume file, in file order."""
    records = []
    with open(path, "rb") as f:
        data = f.read()
    header = data[:38]
    assert header[:8] == b"SHLVOLUM", path
    nonce = header[18:34]
    offset = PAGE
    while offset < len(data):
        prefix = data[offset:offset + PREFIX_LEN]
        valid = (len(prefix) == PREFIX_LEN and prefix[:4] == b"SHLR"
                 and prefix[4:20] == nonce
                 and struct.unpack("<I", prefix[28:32])[0] == zlib.crc32(prefix[:28]))
        if not valid:
            offset += PAGE
            continue
        chunk_len = struct.unpack("<Q", prefix[20:28])[0]
        at = offset + PREFIX_LEN
        assert data[at:at + 8] == b"SHLCHUNK", (path, offset)
        id_len = struct.unpack("<H", data[at + 22:at + 24])[0]
        chunk_id = data[at + 24:at + 24 + id_len].decode()
        records.append(Record(node, Path(path), offset, chunk_len, chunk_id,
                              CHUNK_FIXED_HEADER + id_len + 4))
        offset = _align_up(offset + PREFIX_LEN + chunk_len)
    return records


def node_records(data_dir, node):
    """Every chunk record on storage node `node` (1-based) of a `shale dev` dir."""
    root = Path(data_dir) / f"node-{node}" / "volumes"
    records = []
    if root.is_dir():
        for path in sorted(root.glob("*.vol")):
            records.extend(volume_records(path, node))
    return records


def corrupt(record, fractions=(0.5, 0.3, 0.7)):
    """XOR 0xFF a few bytes inside the record's chunk data (past its header)."""
    assert record.chunk_len > 400, record
    with open(record.volume, "r+b") as f:
        for frac in fractions:
            pos = record.offset + PREFIX_LEN + max(record.header_len + 1,
                                                   int(record.chunk_len * frac))
            f.seek(pos)
            byte = f.read(1)
            f.seek(pos)
            f.write(bytes([byte[0] ^ 0xFF]))
        f.flush()
        os.fsync(f.fileno())


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_FALLOC_FL_KEEP_SIZE = 1
_FALLOC_FL_PUNCH_HOLE = 2


def lose(record):
    """Makes the record's bytes disappear from disk (a hole where it was)."""
    length = _align_up(PREFIX_LEN + record.chunk_len)
    fd = os.open(record.volume, os.O_RDWR)
    try:
        rc = _libc.fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE,
                             ctypes.c_long(record.offset), ctypes.c_long(length))
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(record.volume))
        os.fsync(fd)
    finally:
        os.close(fd)
