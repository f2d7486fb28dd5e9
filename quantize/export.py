"""Writing emoedge model files: the metadata JSON embedded in the ``.tflite``.

The flatbuffer is rebuilt with TensorFlow's generated schema object API, so
every table the converter wrote survives unchanged; TensorFlow is imported
inside the functions. Reading stays with :mod:`emoedge.model_file`, which
shares the checksum code so writer and reader cannot disagree.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import tempfile

import numpy as np

from emoedge import __version__
from emoedge.metadata import METADATA_NAME, ModelMetadata
from emoedge.model_file import (FILE_IDENTIFIER, compute_weights_sha256, read_metadata_indices)

# The converter aligns weight buffers to 16 bytes (schema: force_align 16);
# the Python object API would pack them byte-aligned, which SIMD kernels that
# read weights in place would then load unaligned.
_BUFFER_ALIGNMENT = 16


def embed_metadata(tflite_bytes: bytes, metadata: ModelMetadata) -> bytes:
    """A copy of a ``.tflite`` model carrying ``metadata`` as emoedge metadata.

    ``weights_sha256`` and ``emoedge_version`` are filled in; an existing
    emoedge entry is replaced in place, other metadata entries are kept.

    Raises:
        ModelConfigError: the bytes are not TFLite, or the metadata describes
            a model this runtime could not run.
    """
    existing = read_metadata_indices(tflite_bytes).get(METADATA_NAME)
    stamped = dataclasses.replace(
        metadata, weights_sha256=compute_weights_sha256(tflite_bytes, existing),
        emoedge_version=__version__)
    stamped.check()
    return embed_metadata_bytes(tflite_bytes, stamped.to_json().encode("utf-8"))


def embed_metadata_bytes(tflite_bytes: bytes, payload: bytes) -> bytes:
    """Embed ``payload`` unchecked as the emoedge metadata buffer.

    The low-level half of :func:`embed_metadata`; tests use it to build
    files with broken metadata.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    read_metadata_indices(tflite_bytes)  # refuses non-TFLite bytes in one line
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tflite_bytes, 0))
    model.buffers = model.buffers or []
    entry = _metadata_entry(model, schema)
    # Buffer 0 is TFLite's shared empty sentinel; never write into it.
    if not 0 < entry.buffer < len(model.buffers):
        entry.buffer = len(model.buffers)
        model.buffers.append(schema.BufferT())
    model.buffers[entry.buffer].data = np.frombuffer(payload, dtype=np.uint8)
    return _pack(model)


def _metadata_entry(model, schema):
    """The model's emoedge metadata entry; a new one points at buffer 0."""
    model.metadata = model.metadata or []
    for entry in model.metadata:
        name = entry.name.decode("utf-8") if isinstance(entry.name, bytes) else entry.name
        if name == METADATA_NAME:
            return entry
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, 0
    model.metadata.append(entry)
    return entry


class _AlignedBuffer:
    """Packs a ``BufferT`` with its data starting on a 16-byte boundary."""

    def __init__(self, buffer):
        self.buffer = buffer

    def Pack(self, builder):  # noqa: N802 - the object API's method name
        if self.buffer.data is not None and len(self.buffer.data):
            # Pads so the data vector that Pack writes next ends up aligned.
            builder.Prep(_BUFFER_ALIGNMENT, len(self.buffer.data))
        return self.buffer.Pack(builder)


def _pack(model) -> bytes:
    import flatbuffers

    originals = model.buffers
    model.buffers = [_AlignedBuffer(buffer) for buffer in originals]
    try:
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    finally:
        model.buffers = originals
    return bytes(builder.Output())


def write_model_atomically(path: str | os.PathLike, content: bytes) -> None:
    """Write ``content`` to ``path`` so readers see the old file or the new one.

    The bytes go to a temporary file in the same folder (same filesystem, so
    the rename is atomic), are fsynced, then replace ``path``.
    """
    path = pathlib.Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the model from other users
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: pathlib.Path) -> None:
    """Persist the rename itself; not possible (nor needed) on Windows."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
