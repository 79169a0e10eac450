"""Batch inputs, read safely: a CSV of rows and a zip of the photos it names.

Pure functions over bytes (no database, no disk): the DP batch job calls them. What makes a
whole upload unusable is a 422 `AppError` (`invalid_csv`, `too_many_rows`, `invalid_zip`,
`unsafe_zip_member`, `too_many_files`, `zip_too_large`); what spoils one row is a
`RowError` with its line number, and the other rows go on.

Zip bombs: member count capped; only members the CSV names are ever decompressed; each is
refused past `max_member_bytes` or a compression ratio over `max_ratio` (from the header,
then again while reading, since headers lie), and all reads together stop at
`max_total_bytes`. Names that are absolute, climb out (`..`), or are symlinks refuse the
zip; nothing is ever written to disk. The zip is bytes or an open seekable file (a worker
reads its members from the file store's file rather than loading the whole zip).
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
import stat
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from admitone.core.errors import Invalid

# --- errors ---------------------------------------------------------------------------------


class InvalidCsv(Invalid):
    code = "invalid_csv"
    message = "The CSV file cannot be read."


class TooManyRows(Invalid):
    code = "too_many_rows"
    message = "The CSV file has too many rows."


class InvalidZip(Invalid):
    code = "invalid_zip"
    message = "The zip file cannot be read."


class UnsafeZipMember(Invalid):
    code = "unsafe_zip_member"
    message = "The zip file contains a file with an unsafe name (absolute, '..' or a link)."


class TooManyFiles(Invalid):
    code = "too_many_files"
    message = "The zip file contains too many files."


class ZipTooLarge(Invalid):
    code = "zip_too_large"
    message = "The photos in the zip file are too large once uncompressed."


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str  # a stable code: missing_name, invalid_encoding, photo_not_in_zip, ...
    detail: str = ""


class PhotoError(Exception):
    """One photo of the zip cannot be used (a row error, not a failed batch)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


# --- the CSV ----------------------------------------------------------------------------------

COLUMNS = ("name", "title", "photo")
REQUIRED = ("name", "photo")


@dataclass(frozen=True)
class BatchRow:
    line: int  # the line of the file the row starts on (the header is line 1)
    name: str
    title: str
    photo: str  # a member name of the zip, or an https:// URL


@dataclass
class BatchCsv:
    rows: list[BatchRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.errors)


_BAD_TEXT = re.compile(r"[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def read_batch_csv(data: bytes, *, max_rows: int = 100_000, max_field_chars: int = 200) -> BatchCsv:
    """The rows of a `name,title,photo` CSV (UTF-8, with or without BOM; `,` or `;`).

    A line that is not valid UTF-8 is a row error (`invalid_encoding`), as is a missing
    name or photo or an over-long field; more than `max_rows` data rows refuse the file
    (422 `too_many_rows`), and so does a file without the header or that is not CSV at all
    (422 `invalid_csv`)."""
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InvalidCsv(f"Line {line} contains a NUL byte: this is not a CSV file.", line=line)
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InvalidCsv(f"Line 1: {exc}.", line=1) from exc
    if header is None:
        raise InvalidCsv("The CSV file is empty.")
    names = [_BAD_TEXT.sub("", h).strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise InvalidCsv(
            "The first line must name the columns name,title,photo "
            f"(missing: {', '.join(missing)}).",
            missing=missing,
        )
    index = {c: names.index(c) for c in COLUMNS if c in names}
    result = BatchCsv()
    start = reader.line_num + 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(v.strip() for v in record):
                continue  # blank line
            if result.total >= max_rows:
                raise TooManyRows(
                    f"At most {max_rows} rows per batch; split the file.", max_rows=max_rows
                )
            parsed = _row(line, record, index, max_field_chars)
            if isinstance(parsed, BatchRow):
                result.rows.append(parsed)
            else:
                result.errors.append(parsed)
    except csv.Error as exc:
        raise InvalidCsv(f"Line {reader.line_num}: {exc}.", line=reader.line_num) from exc
    return result


def _row(
    line: int, record: list[str], index: dict[str, int], max_chars: int
) -> BatchRow | RowError:
    values = {c: record[i].strip() if i < len(record) else "" for c, i in index.items()}
    if any(_BAD_TEXT.search(v) for v in record):
        return RowError(line, "invalid_encoding", "The line is not valid UTF-8 text.")
    for column, value in values.items():
        if _CONTROL.search(value):
            return RowError(
                line, "invalid_characters", f"The {column} contains control characters."
            )
        if len(value) > (2000 if column == "photo" else max_chars):
            return RowError(line, "field_too_long", f"The {column} is too long.")
    if not values.get("name"):
        return RowError(line, "missing_name", "The name is empty.")
    if not values.get("photo"):
        return RowError(line, "missing_photo", "The photo is empty.")
    return BatchRow(line, values["name"], values.get("title", ""), values["photo"])


def is_url(photo: str) -> bool:
    return photo.lower().startswith(("https://", "http://"))


# --- the zip of photos ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ZipLimits:
    max_members: int = 110_000
    max_member_bytes: int = 25 * 1024 * 1024
    max_total_bytes: int = 2 * 1024 * 1024 * 1024
    max_ratio: float = 100.0  # uncompressed / compressed; JPEGs barely compress at all


def _normalize(name: str) -> str:
    return posixpath.normpath(name.replace("\\", "/")).removeprefix("./")


def _unsafe(raw: str) -> bool:
    name = raw.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        return True
    return ".." in name.split("/")


class PhotoZip:
    """The members of a zip that the CSV names, checked; `read` decompresses one."""

    def __init__(
        self, data: bytes | BinaryIO, wanted: Iterable[str], limits: ZipLimits = ZipLimits()
    ) -> None:
        self.limits = limits
        self._read_total = 0
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise InvalidZip() from exc
        if len(infos) > limits.max_members:
            raise TooManyFiles(
                f"At most {limits.max_members} files per zip.", max_files=limits.max_members
            )
        by_name: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if _unsafe(info.filename):
                raise UnsafeZipMember(f"Unsafe file name in the zip: {info.filename[:200]!r}.")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeZipMember(f"The zip contains a link: {info.filename[:200]!r}.")
            if info.is_dir() or info.filename.startswith("__MACOSX/"):
                continue
            key = _normalize(info.filename)
            if key in by_name:
                raise InvalidZip(f"The zip contains {info.filename[:200]!r} twice.")
            by_name[key] = info
        basenames: dict[str, list[str]] = {}
        for key in by_name:
            basenames.setdefault(posixpath.basename(key), []).append(key)
        self._members: dict[str, zipfile.ZipInfo] = {}
        declared = 0
        for name in dict.fromkeys(wanted):
            member = by_name.get(_normalize(name))
            if member is None:  # "ada.jpg" in the CSV, "photos/ada.jpg" in the zip
                found = basenames.get(posixpath.basename(_normalize(name)), [])
                member = by_name[found[0]] if len(found) == 1 else None
            if member is not None:
                self._members[name] = member
                declared += member.file_size
        if declared > limits.max_total_bytes:
            raise ZipTooLarge(max_total_bytes=limits.max_total_bytes)

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def read(self, name: str) -> bytes:
        """The photo's bytes, or PhotoError: `photo_not_in_zip`, `photo_too_large`,
        `suspicious_compression`, `photo_unreadable` (damaged, encrypted)."""
        info = self._members.get(name)
        if info is None:
            raise PhotoError("photo_not_in_zip", f"{name[:200]!r} is not in the zip.")
        limit = self.limits.max_member_bytes
        if info.file_size > limit:
            raise PhotoError("photo_too_large", f"The photo is over {limit} bytes.")
        if info.flag_bits & 0x1:
            raise PhotoError("photo_unreadable", "The photo is encrypted.")
        if info.file_size > self.limits.max_ratio * max(info.compress_size, 1):
            raise PhotoError("suspicious_compression", "The photo is compressed suspiciously well.")
        ceiling = min(limit, int(self.limits.max_ratio * max(info.compress_size, 1)))
        try:
            if info.compress_type == zipfile.ZIP_STORED:
                return self._read_stored(info, ceiling)
            out = bytearray()
            with self._zip.open(info) as member:
                while chunk := member.read(64 * 1024):
                    out += chunk
                    self._read_total += len(chunk)
                    if len(out) > ceiling:  # the header understated the size
                        raise PhotoError(
                            "suspicious_compression", "The photo is larger than declared."
                        )
                    if self._read_total > self.limits.max_total_bytes:
                        raise ZipTooLarge(max_total_bytes=self.limits.max_total_bytes)
        except (
            zipfile.BadZipFile,
            zlib.error,
            OSError,
            ValueError,
            EOFError,
            RuntimeError,
            NotImplementedError,
        ) as exc:
            raise PhotoError("photo_unreadable", "The photo in the zip is damaged.") from exc
        return bytes(out)

    def _read_stored(self, info: zipfile.ZipInfo, ceiling: int) -> bytes:
        """A stored member (most photo zips: JPEGs do not deflate) in one read and one copy:
        nothing inflates, so the read is bounded by the compressed size, hence by the
        archive; zipfile still checks the local header and the CRC."""
        if info.compress_size > ceiling:
            raise PhotoError("suspicious_compression", "The photo is larger than declared.")
        if self._read_total + info.compress_size > self.limits.max_total_bytes:
            raise ZipTooLarge(max_total_bytes=self.limits.max_total_bytes)
        with self._zip.open(info) as member:
            data = member.read()
        self._read_total += len(data)
        return data

    def close(self) -> None:
        self._zip.close()
