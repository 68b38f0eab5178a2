"""TensorBoard scalars from the controller: the test metric of every evaluated checkpoint.

Theory of operation: a trial's TensorBoard run is `layout.tensorboard_dir(trial_dir)`. The
training job's Trainer writes its training and validation curves there; the controller adds
`test/<metric>` (one point per checkpoint step) from the journal, so that `tensorboard
--logdir <search.dir>` shows all three for every trial, for users' own inference scripts
too (their metric is parsed from a log). The controller must stay light, so this is a
small writer of TensorBoard's file format with the standard library only:

- an event file is a sequence of TFRecords: `uint64 length, uint32 masked_crc32c(length),
  bytes data, uint32 masked_crc32c(data)`, little-endian; crc32c is Castagnoli's CRC;
- each record is a serialised `Event` protobuf (wall_time=1 double, step=2 int64,
  file_version=3 string, summary=5 Summary); `Summary` holds repeated `Value` (field 1) with
  tag=1 string and simple_value=2 float. These few fields are encoded by hand.

The controller owns ONE file per trial, `events.out.tfevents.0.orchestrator`, and only ever
APPENDS to it: a TensorBoard already running reads a file incrementally from where it was,
so a rewritten (replaced) file would not be seen again, while appended points are. Each
sync reads the file's own records back, drops a torn last record (a kill in the middle of an
append), and appends only the (tag, step) points the journal has and the file lacks. So a
resumed controller, `orchestrator report`, or a second sync in the same tick writes no
duplicate point, and a point lost to a kill is written by the next sync. The read and the
append happen under an exclusive `flock` on the file, since `orchestrator report` may sync
while the controller does.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import struct
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from orchestrator.common import layout
from orchestrator.model.state import SearchState

EVENTS_FILE = "events.out.tfevents.0.orchestrator"
SPLIT = "test"  # the validation curve comes from the training job, at every eval step

Scalar = tuple[str, int, float]  # (tag, step, value)


# ----------------------------------------------------------------- crc32c, masked
def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's mask: a CRC of data that holds CRCs is itself a poor checksum otherwise."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", masked_crc(length)) + data
            + struct.pack("<I", masked_crc(data)))


def records(blob: bytes) -> Iterator[tuple[int, bytes]]:
    """(end offset, data) of each whole, intact record; stops at the first torn or bad one."""
    at = 0
    while at + 12 <= len(blob):
        length_bytes = blob[at:at + 8]
        (length,) = struct.unpack("<Q", length_bytes)
        (length_crc,) = struct.unpack("<I", blob[at + 8:at + 12])
        end = at + 12 + length + 4
        if length_crc != masked_crc(length_bytes) or end > len(blob):
            return
        data = blob[at + 12:at + 12 + length]
        if struct.unpack("<I", blob[end - 4:end])[0] != masked_crc(data):
            return
        yield end, data
        at = end


# ----------------------------------------------------------------- protobuf, by hand
def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 negatives are ten-byte two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def event(wall_time: float, step: int = 0, *, scalars: Iterable[tuple[str, float]] = (),
          file_version: str = "") -> bytes:
    """A serialised `Event`: the file-version header, or scalars at `step`."""
    out = _varint(1 << 3 | 1) + struct.pack("<d", wall_time)
    if step:
        out += _varint(2 << 3) + _varint(step)
    if file_version:
        out += _bytes_field(3, file_version.encode())
    values = b"".join(
        _bytes_field(1, _bytes_field(1, tag.encode()) + _varint(2 << 3 | 5)
                     + struct.pack("<f", value))
        for tag, value in scalars)
    if values:
        out += _bytes_field(5, values)
    return out


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: varints as int, length-delimited as
    bytes, fixed 32/64-bit as their raw bytes."""
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _read_varint(data, at)
            yield number, value
        elif wire == 2:
            size, at = _read_varint(data, at)
            yield number, data[at:at + size]
            at += size
        else:
            size = 8 if wire == 1 else 4
            yield number, data[at:at + size]
            at += size


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def scalars_of(data: bytes) -> list[Scalar]:
    """The (tag, step, value) points of one serialised `Event` written by `event`."""
    step, found = 0, []
    for number, value in _fields(data):
        if number == 2 and isinstance(value, int):
            step = value
        elif number == 5 and isinstance(value, bytes):
            found += [_value(v) for n, v in _fields(value) if n == 1 and isinstance(v, bytes)]
    return [(tag, step, number) for tag, number in found]


def _value(data: bytes) -> tuple[str, float]:
    tag, number = "", math.nan
    for field, value in _fields(data):
        if field == 1 and isinstance(value, bytes):
            tag = value.decode()
        elif field == 2 and isinstance(value, bytes):
            number = struct.unpack("<f", value)[0]
    return tag, number


# ----------------------------------------------------------------- the file
def append_scalars(path: Path, points: Iterable[Scalar], wall_time: float | None = None) -> int:
    """Append the points `path` does not hold yet (by tag and step); return how many.

    Creates the file with its version header; cuts a torn last record off first. Under an
    exclusive lock: `orchestrator report` may sync while the controller does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        handle.seek(0)
        blob = handle.read()
        whole, present = 0, set[tuple[str, int]]()
        for end, data in records(blob):
            whole = end
            present.update((tag, step) for tag, step, _ in scalars_of(data))
        new = [p for p in points if (p[0], p[1]) not in present]
        if not new and whole == len(blob) and blob:
            return 0
        now = time.time() if wall_time is None else wall_time
        out = b"" if whole else record(event(now, file_version="brain.Event:2"))
        out += b"".join(record(event(now, step, scalars=[(tag, value)]))
                        for tag, step, value in new)
        handle.truncate(whole)  # "a" mode: every write goes to the (new) end
        handle.write(out)
        handle.flush()
        os.fsync(handle.fileno())
    return len(new)


def points_from_journal(state: SearchState) -> dict[int, list[Scalar]]:
    """Per trial, `test/<metric>` at each evaluated step: every number of the test split's
    metrics (the built-in job's; `n` is a count, not a metric), or the decided-on value of
    a user's script on that split."""
    points: dict[int, list[Scalar]] = {}
    for (trial, step), ev in sorted(state.evaluations.items()):
        numbers = dict(ev.metrics.get(SPLIT, {}))
        if not numbers and ev.split == SPLIT and ev.value is not None:
            numbers = {str(state.settings()["search"]["metric"]): ev.value}
        points.setdefault(trial, []).extend(
            (f"{SPLIT}/{name}", step, float(v)) for name, v in sorted(numbers.items())
            if name != "n" and isinstance(v, (int, float)) and not isinstance(v, bool))
    return points


def sync_test_scalars(state: SearchState, search_dir: Path) -> int:
    """Bring every trial's controller-owned event file up to the journal; return how many
    points were added. A convenience: a full disk or a lost permission is not an error."""
    added = 0
    for trial, points in points_from_journal(state).items():
        path = layout.tensorboard_dir(layout.trial_dir(search_dir, trial)) / EVENTS_FILE
        with contextlib.suppress(OSError):
            added += append_scalars(path, points)
    return added
