"""Reading an emoedge ``.tflite`` file: its metadata, checksums and op codes.

The flatbuffer is read by a small hand-written reader rather than the
``tflite`` package or TensorFlow's generated schema: the device then needs no
dependency beyond numpy, only five tables are ever touched (about a hundred
lines), and every offset is bounds-checked, so a corrupt or truncated file
gives a one-line :class:`ModelConfigError` instead of an ``IndexError`` or a
silently wrong read. Field indices follow TFLite's ``schema.fbs``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import struct
from dataclasses import dataclass

from .metadata import METADATA_NAME, ModelConfigError, ModelMetadata

FILE_IDENTIFIER = b"TFL3"

# Field indices of the schema's tables (vtable slot order).
_MODEL_OPERATOR_CODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS, _MODEL_METADATA = 1, 2, 4, 6
_BUFFER_DATA, _BUFFER_OFFSET = 0, 1
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_OPCODE_DEPRECATED_BUILTIN, _OPCODE_CUSTOM, _OPCODE_BUILTIN = 0, 1, 3
_SUBGRAPH_OPERATORS, _OPERATOR_OPCODE_INDEX = 3, 0


class _Corrupt(Exception):
    """An offset or length points outside the file."""


class _FlatBuffer:
    """Bounds-checked access to the tables of one flatbuffer."""

    def __init__(self, data: bytes):
        self.data = data

    def _read(self, fmt: str, pos: int):
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise _Corrupt
        return struct.unpack_from(fmt, self.data, pos)[0]

    def root(self) -> int:
        return self._read("<I", 0)

    def _field(self, table: int, index: int) -> int | None:
        """Absolute position of a table's field, None when it is absent."""
        vtable = table - self._read("<i", table)
        vtable_size = self._read("<H", vtable)
        slot = 4 + 2 * index
        if slot + 2 > vtable_size:
            return None
        offset = self._read("<H", vtable + slot)
        return table + offset if offset else None

    def scalar(self, table: int, index: int, fmt: str, default: int = 0) -> int:
        pos = self._field(table, index)
        return default if pos is None else self._read(fmt, pos)

    def _target(self, table: int, index: int) -> int | None:
        pos = self._field(table, index)
        return None if pos is None else pos + self._read("<I", pos)

    def _vector(self, table: int, index: int, item_size: int) -> tuple[int, int]:
        """(start, length) of a vector field; (0, 0) when absent."""
        target = self._target(table, index)
        if target is None:
            return 0, 0
        length = self._read("<I", target)
        if target + 4 + length * item_size > len(self.data):
            raise _Corrupt
        return target + 4, length

    def tables(self, table: int, index: int) -> list[int]:
        start, length = self._vector(table, index, 4)
        return [start + 4 * i + self._read("<I", start + 4 * i) for i in range(length)]

    def ubytes(self, table: int, index: int) -> bytes:
        start, length = self._vector(table, index, 1)
        return self.data[start:start + length]

    def string(self, table: int, index: int) -> str:
        return self.ubytes(table, index).decode("utf-8", errors="replace")


def _open(content: bytes) -> tuple[_FlatBuffer, int]:
    """The reader and the Model table's position; refuses non-TFLite bytes."""
    if len(content) < 8:
        raise ModelConfigError(f"not a TFLite model: corrupt or truncated ({len(content)} bytes)")
    if content[4:8] != FILE_IDENTIFIER:
        raise ModelConfigError("not a TFLite model (no TFL3 file identifier)")
    fb = _FlatBuffer(content)
    return fb, fb.root()


def _guarded(read):
    """Turn out-of-range offsets inside ``read`` into a one-line refusal."""
    @functools.wraps(read)
    def wrapper(content: bytes):
        try:
            return read(content)
        except _Corrupt:
            raise ModelConfigError("not a TFLite model: corrupt or truncated") from None
    return wrapper


@_guarded
def read_buffers(content: bytes) -> list[bytes]:
    """The ``data`` bytes of every entry of ``Model.buffers``, in index order."""
    fb, model = _open(content)
    buffers = []
    for buffer in fb.tables(model, _MODEL_BUFFERS):
        # Models over 2 GB keep weights after the flatbuffer; none fits a Pi.
        if fb.scalar(buffer, _BUFFER_OFFSET, "<Q") > 1:
            raise ModelConfigError("model stores weights outside the flatbuffer (over 2 GB); "
                                   "emoedge does not support that")
        buffers.append(fb.ubytes(buffer, _BUFFER_DATA))
    return buffers


@_guarded
def read_metadata_indices(content: bytes) -> dict[str, int]:
    """Metadata entry name -> index into ``Model.buffers``."""
    fb, model = _open(content)
    return {fb.string(entry, _METADATA_NAME): fb.scalar(entry, _METADATA_BUFFER, "<I")
            for entry in fb.tables(model, _MODEL_METADATA)}


def read_metadata_entries(content: bytes) -> dict[str, bytes]:
    """Metadata entry name -> the bytes of the buffer it points to."""
    buffers = read_buffers(content)
    entries = {}
    for name, index in read_metadata_indices(content).items():
        if index >= len(buffers):
            raise ModelConfigError(f"not a TFLite model: corrupt or truncated "
                                   f"(metadata {name!r} points to missing buffer {index})")
        entries[name] = buffers[index]
    return entries


def compute_weights_sha256(content: bytes, exclude_buffer: int | None) -> str:
    """Hex sha256 over every buffer's data in index order, skipping one index."""
    digest = hashlib.sha256()
    for index, data in enumerate(read_buffers(content)):
        if index != exclude_buffer:
            digest.update(data)
    return digest.hexdigest()


@_guarded
def read_operator_counts(content: bytes) -> list[tuple[int | str, int]]:
    """Operators of the main subgraph: (builtin code or custom name, count).

    In the order of ``Model.operator_codes``; codes the graph never uses are
    left out.
    """
    fb, model = _open(content)
    codes = [_operator_code(fb, code) for code in fb.tables(model, _MODEL_OPERATOR_CODES)]
    counts = [0] * len(codes)
    subgraphs = fb.tables(model, _MODEL_SUBGRAPHS)
    for operator in fb.tables(subgraphs[0], _SUBGRAPH_OPERATORS) if subgraphs else []:
        index = fb.scalar(operator, _OPERATOR_OPCODE_INDEX, "<I")
        if index >= len(codes):
            raise _Corrupt
        counts[index] += 1
    return [(code, count) for code, count in zip(codes, counts) if count]


def _operator_code(fb: _FlatBuffer, table: int) -> int | str:
    # Old files fill only the int8 deprecated field; new ones store 127 there
    # for codes that do not fit it, so the larger of the two is the code.
    builtin = max(fb.scalar(table, _OPCODE_BUILTIN, "<i"),
                  fb.scalar(table, _OPCODE_DEPRECATED_BUILTIN, "<b"))
    custom = fb.string(table, _OPCODE_CUSTOM)
    return custom if custom else builtin


@dataclass(frozen=True, kw_only=True)
class ModelFile:
    """An emoedge model file whose metadata and weights have been checked.

    Attributes:
        path: where it was read from.
        content: the whole ``.tflite`` file.
        metadata: the parsed, checked emoedge metadata.
        file_sha256: hex sha256 of ``content``.
        weights_sha256: hex sha256 of every buffer but the metadata's.
    """

    path: pathlib.Path
    content: bytes
    metadata: ModelMetadata
    file_sha256: str
    weights_sha256: str


def read_model_file(path: str | os.PathLike) -> ModelFile:
    """Read and check an emoedge model file.

    Raises:
        ModelConfigError: one line naming the file and the problem: missing or
            unreadable, not TFLite, no or corrupt emoedge metadata, settings
            this runtime cannot honour, or weights that fail their checksum.
    """
    path = pathlib.Path(path)
    content = _read_bytes(path)
    try:
        metadata, weights_sha256 = _checked_metadata(content)
    except ModelConfigError as error:
        # Corrupt JSON can smuggle a newline into a quoted field name.
        raise ModelConfigError(f"{path}: {' '.join(str(error).split())}") from None
    return ModelFile(path=path, content=content, metadata=metadata,
                     file_sha256=hashlib.sha256(content).hexdigest(),
                     weights_sha256=weights_sha256)


def _read_bytes(path: pathlib.Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelConfigError(f"{path}: no such model file") from None
    except OSError as error:
        raise ModelConfigError(f"{path}: cannot read ({error.strerror or error})") from None


def _checked_metadata(content: bytes) -> tuple[ModelMetadata, str]:
    # The graph tables sit at the end of a written file, so walking them is
    # what catches a truncated copy that still holds every buffer.
    read_operator_counts(content)
    indices = read_metadata_indices(content)
    if METADATA_NAME not in indices:
        raise ModelConfigError("has no emoedge metadata; export it with emoedge quantize")
    metadata = ModelMetadata.from_json(read_metadata_entries(content)[METADATA_NAME])
    weights_sha256 = compute_weights_sha256(content, indices[METADATA_NAME])
    if not metadata.weights_sha256:
        raise ModelConfigError("its metadata has no weights_sha256; re-export it with "
                               "emoedge quantize")
    if metadata.weights_sha256 != weights_sha256:
        raise ModelConfigError("weights do not match the sha256 in its metadata "
                               "(file corrupt or changed after export)")
    return metadata, weights_sha256
