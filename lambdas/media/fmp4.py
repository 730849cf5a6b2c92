"""Fragmented MP4 tracks read box by box from disk, and their fragments rewritten as re-timed CMAF segments."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_COPY_CHUNK = 1024 * 1024
_NON_SYNC = 0x00010000  # sample_is_non_sync_sample in the ISO/IEC 14496-12 sample_flags word

# tfhd flags
_TFHD_BASE_DATA_OFFSET = 0x000001
_TFHD_SAMPLE_DESCRIPTION_INDEX = 0x000002
_TFHD_DEFAULT_DURATION = 0x000008
_TFHD_DEFAULT_SIZE = 0x000010
_TFHD_DEFAULT_FLAGS = 0x000020

# trun flags
_TRUN_DATA_OFFSET = 0x000001
_TRUN_FIRST_FLAGS = 0x000004
_TRUN_DURATION = 0x000100
_TRUN_SIZE = 0x000200
_TRUN_FLAGS = 0x000400
_TRUN_CTO = 0x000800


class Fmp4Error(ValueError):
    """The file is not a single-track fragmented MP4 we can cut into segments."""


class NoSamples(Fmp4Error):
    """A well-formed header and not one sample: the encoder was given no frame."""


@dataclass(frozen=True)
class FragmentInfo:
    offset: int  # at its styp when one directly precedes the moof, else at the moof
    size: int  # through the end of its mdat
    decode_time: int  # tfdt, in track timescale ticks
    duration: int  # ticks
    sample_count: int
    starts_with_sync: bool


@dataclass(frozen=True)
class FragmentedTrack:
    init_size: int  # the init segment (ftyp+moov) is file[:init_size]
    timescale: int
    fragments: tuple[FragmentInfo, ...]

    @property
    def duration(self) -> int:
        return sum(f.duration for f in self.fragments)


@dataclass(frozen=True)
class _Box:
    kind: str
    start: int
    header: int
    end: int

    @property
    def body(self) -> int:
        return self.start + self.header


@dataclass(frozen=True)
class _SampleDefaults:
    duration: int
    flags: int


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[_Box]:
    """The boxes laid end to end in [start, end) of the file, read by header only."""
    pos = start
    while pos < end:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8 or end - pos < 8:
            raise Fmp4Error(f"truncated box header at byte {pos}")
        size, raw = struct.unpack(">I4s", head)
        kind = raw.decode("latin-1")
        header = 8
        if size == 1:
            large = f.read(8)
            if len(large) < 8:
                raise Fmp4Error(f"truncated 64-bit size of {kind!r} box at byte {pos}")
            (size,) = struct.unpack(">Q", large)
            header = 16
        elif size == 0:
            size = end - pos
        if kind == "uuid":
            header += 16
        if size < header:
            raise Fmp4Error(f"{kind!r} box at byte {pos} has impossible size {size}")
        if pos + size > end:
            raise Fmp4Error(f"{kind!r} box at byte {pos} needs {size} bytes but only {end - pos} remain (truncated?)")
        yield _Box(kind, pos, header, pos + size)
        pos += size


def _children(f: BinaryIO, box: _Box) -> Iterator[_Box]:
    return _boxes(f, box.body, box.end)


def _child(f: BinaryIO, box: _Box, kind: str) -> _Box | None:
    return next((c for c in _children(f, box) if c.kind == kind), None)


def _need(f: BinaryIO, box: _Box, kind: str) -> _Box:
    found = _child(f, box, kind)
    if found is None:
        raise Fmp4Error(f"{box.kind!r} box at byte {box.start} has no {kind!r}")
    return found


def _full_box(f: BinaryIO, box: _Box, minimum: int) -> tuple[int, int, bytes]:
    """(version, flags, rest of the body) of a full box whose body must hold at least `minimum` bytes."""
    f.seek(box.body)
    body = f.read(box.end - box.body)
    if len(body) < 4 + minimum:
        raise Fmp4Error(f"{box.kind!r} box at byte {box.start} is too short")
    return body[0], int.from_bytes(body[1:4]), body[4:]


def _check_length(box: _Box, data: bytes | bytearray, needed: int) -> None:
    if len(data) < needed:
        raise Fmp4Error(f"{box.kind!r} box at byte {box.start} is too short for its flags")


def _read_moov(f: BinaryIO, moov: _Box) -> tuple[int, dict[int, _SampleDefaults]]:
    """(timescale, trex defaults by track id) of a single-track fragmented moov."""
    traks = [c for c in _children(f, moov) if c.kind == "trak"]
    if len(traks) != 1:
        raise Fmp4Error(f"expected exactly one track, the moov holds {len(traks)}")
    mdhd = _need(f, _need(f, traks[0], "mdia"), "mdhd")
    version, _, body = _full_box(f, mdhd, 16)
    if version == 1:
        _check_length(mdhd, body, 20)
        (timescale,) = struct.unpack_from(">I", body, 16)
    else:
        (timescale,) = struct.unpack_from(">I", body, 8)
    if timescale == 0:
        raise Fmp4Error("mdhd timescale is 0")
    mvex = _child(f, moov, "mvex")
    if mvex is None:
        raise Fmp4Error("not a fragmented MP4: the moov has no mvex")
    trexes: dict[int, _SampleDefaults] = {}
    for trex in _children(f, mvex):
        if trex.kind == "trex":
            _, _, body = _full_box(f, trex, 20)
            track_id, _, duration, _, flags = struct.unpack_from(">5I", body)
            trexes[track_id] = _SampleDefaults(duration, flags)
    if not trexes:
        raise Fmp4Error("not a fragmented MP4: the mvex has no trex")
    return timescale, trexes


def _read_fragment(f: BinaryIO, moof: _Box, start: int, end: int, trexes: dict[int, _SampleDefaults]) -> FragmentInfo:
    trafs = [c for c in _children(f, moof) if c.kind == "traf"]
    if len(trafs) != 1:
        raise Fmp4Error(f"moof at byte {moof.start} holds {len(trafs)} track fragments, expected one")
    traf = trafs[0]
    defaults = _tfhd_defaults(f, _need(f, traf, "tfhd"), trexes)
    tfdt = _child(f, traf, "tfdt")
    if tfdt is None:
        raise Fmp4Error(f"fragment at byte {moof.start} has no tfdt")
    version, _, body = _full_box(f, tfdt, 4)
    if version == 1:
        _check_length(tfdt, body, 8)
    (decode_time,) = struct.unpack_from(">Q" if version == 1 else ">I", body)
    truns = [_trun(f, c, defaults) for c in _children(f, traf) if c.kind == "trun"]
    if not truns:
        raise Fmp4Error(f"fragment at byte {moof.start} has no trun (no samples)")
    first_flags = next((flags for count, _, flags in truns if count), None)
    return FragmentInfo(
        offset=start,
        size=end - start,
        decode_time=decode_time,
        duration=sum(duration for _, duration, _ in truns),
        sample_count=sum(count for count, _, _ in truns),
        starts_with_sync=first_flags is not None and not first_flags & _NON_SYNC,
    )


def _tfhd_defaults(f: BinaryIO, tfhd: _Box, trexes: dict[int, _SampleDefaults]) -> _SampleDefaults:
    """The sample duration and flags a trun falls back to: the tfhd's where it has them, else the trex's."""
    _, flags, body = _full_box(f, tfhd, 4)
    (track_id,) = struct.unpack_from(">I", body)
    if flags & _TFHD_BASE_DATA_OFFSET:
        # Absolute file offsets would point into the wrong bytes once the fragment is copied out.
        raise Fmp4Error(f"tfhd at byte {tfhd.start} uses an absolute base-data-offset (mux with default_base_moof)")
    if track_id not in trexes:
        raise Fmp4Error(f"tfhd at byte {tfhd.start} is for track {track_id}, which the moov does not declare")
    duration, sample_flags = trexes[track_id].duration, trexes[track_id].flags
    pos = 8 if flags & _TFHD_SAMPLE_DESCRIPTION_INDEX else 4
    if flags & _TFHD_DEFAULT_DURATION:
        _check_length(tfhd, body, pos + 4)
        (duration,) = struct.unpack_from(">I", body, pos)
        pos += 4
    pos += 4 if flags & _TFHD_DEFAULT_SIZE else 0
    if flags & _TFHD_DEFAULT_FLAGS:
        _check_length(tfhd, body, pos + 4)
        (sample_flags,) = struct.unpack_from(">I", body, pos)
    return _SampleDefaults(duration, sample_flags)


def _trun(f: BinaryIO, trun: _Box, defaults: _SampleDefaults) -> tuple[int, int, int]:
    """(sample count, summed duration, first sample's flags) of one track run."""
    _, flags, body = _full_box(f, trun, 4)
    (count,) = struct.unpack_from(">I", body)
    pos = 8 if flags & _TRUN_DATA_OFFSET else 4
    first_flags: int | None = None
    if flags & _TRUN_FIRST_FLAGS:
        _check_length(trun, body, pos + 4)
        (first_flags,) = struct.unpack_from(">I", body, pos)
        pos += 4
    fields = [bit for bit in (_TRUN_DURATION, _TRUN_SIZE, _TRUN_FLAGS, _TRUN_CTO) if flags & bit]
    _check_length(trun, body, pos + 4 * len(fields) * count)
    table = struct.unpack_from(f">{len(fields) * count}I", body, pos)
    if flags & _TRUN_DURATION:
        duration = sum(table[fields.index(_TRUN_DURATION) :: len(fields)])
    else:
        duration = defaults.duration * count
    if first_flags is None:
        first_flags = table[fields.index(_TRUN_FLAGS)] if flags & _TRUN_FLAGS and count else defaults.flags
    return count, duration, first_flags


def read_track(path: Path) -> FragmentedTrack:
    """The init segment size, timescale and fragments of a single-track fragmented MP4."""
    with path.open("rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        init_size: int | None = None
        timescale = 0
        trexes: dict[int, _SampleDefaults] = {}
        fragments: list[FragmentInfo] = []
        previous: _Box | None = None
        moof: _Box | None = None
        start = 0
        for box in _boxes(f, 0, file_size):
            if box.kind == "moov":
                if init_size is not None:
                    raise Fmp4Error(f"second moov at byte {box.start}")
                timescale, trexes = _read_moov(f, box)
                init_size = box.end
            elif box.kind == "moof":
                if init_size is None:
                    raise Fmp4Error(f"moof at byte {box.start} comes before the moov")
                if moof is not None:
                    raise Fmp4Error(f"moof at byte {moof.start} has no mdat")
                moof = box
                # Only a styp right before its moof belongs to the segment; sidx, prft, emsg, free do not.
                start = previous.start if previous is not None and previous.kind == "styp" else box.start
            elif box.kind == "mdat":
                if moof is None:
                    raise Fmp4Error(f"mdat at byte {box.start} belongs to no fragment (not a fragmented MP4?)")
                fragments.append(_read_fragment(f, moof, start, box.end, trexes))
                moof = None
            previous = box
        if init_size is None:
            raise Fmp4Error("no moov box: not an MP4, or truncated before its header")
        if moof is not None:
            raise Fmp4Error(f"moof at byte {moof.start} has no mdat (truncated?)")
        if not fragments:
            raise NoSamples("no fragments: not a fragmented MP4, or no sample was written")
    return FragmentedTrack(init_size=init_size, timescale=timescale, fragments=tuple(fragments))


def init_bytes(path: Path, track: FragmentedTrack) -> bytes:
    """The init segment: the file's leading ftyp and moov."""
    with path.open("rb") as f:
        data = f.read(track.init_size)
    if len(data) != track.init_size:
        raise Fmp4Error(f"{path.name} is shorter than its init segment")
    return data


def write_segment(path: Path, fragment: FragmentInfo, dest: Path, *, shift: int, sequence: int) -> None:
    """Copy one fragment to `dest` as a media segment, its tfdt moved by `shift` ticks and its mfhd renumbered."""
    if not 0 <= sequence <= 0xFFFFFFFF:
        raise Fmp4Error(f"sequence number {sequence} does not fit in mfhd")
    end = fragment.offset + fragment.size
    with path.open("rb") as f:
        boxes = list(_boxes(f, fragment.offset, end))
        kinds = [b.kind for b in boxes]
        if kinds not in (["moof", "mdat"], ["styp", "moof", "mdat"]):
            raise Fmp4Error(f"bytes {fragment.offset}..{end} of {path.name} are not one fragment: {kinds}")
        moof = boxes[-2]
        f.seek(fragment.offset)
        head = bytearray(f.read(moof.end - fragment.offset))

        mfhd = _need(f, moof, "mfhd")
        _check_length(mfhd, head, mfhd.body + 8 - fragment.offset)
        struct.pack_into(">I", head, mfhd.body + 4 - fragment.offset, sequence)

        tfdt = _need(f, _need(f, moof, "traf"), "tfdt")
        at = tfdt.body - fragment.offset
        version = head[at]
        fmt = ">Q" if version == 1 else ">I"
        _check_length(tfdt, head, at + 4 + struct.calcsize(fmt))
        value = struct.unpack_from(fmt, head, at + 4)[0] + shift
        # Box sizes stay as they are, so a version 0 tfdt cannot be widened in place.
        if not 0 <= value < 1 << (8 * struct.calcsize(fmt)):
            raise Fmp4Error(f"shifted tfdt {value} does not fit a version {version} tfdt")
        struct.pack_into(fmt, head, at + 4, value)

        with dest.open("wb") as out:
            out.write(head)
            remaining = end - moof.end
            f.seek(moof.end)
            while remaining:
                chunk = f.read(min(_COPY_CHUNK, remaining))
                if not chunk:
                    raise Fmp4Error(f"{path.name} ended inside the mdat at byte {moof.end}")
                out.write(chunk)
                remaining -= len(chunk)
