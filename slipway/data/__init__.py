"""Datasets on disk: detecting their format, inspecting them as a stream, packing folders.

The dataset service calls `detect_format` then `inspect` on an upload, and
`pack_folder` / `unpack_folder` to move folder datasets as deterministic tars.
"""

from __future__ import annotations

from slipway.data.folders import iter_folder_files, pack_folder, unpack_folder
from slipway.data.formats import (
    FOLDER_FORMATS,
    FORMATS,
    STREAMABLE,
    ColumnInfo,
    DatasetInfo,
    detect_format,
    inspect,
    inspect_stream,
    sniff_format,
)

__all__ = [
    "FOLDER_FORMATS",
    "FORMATS",
    "STREAMABLE",
    "ColumnInfo",
    "DatasetInfo",
    "detect_format",
    "inspect",
    "inspect_stream",
    "iter_folder_files",
    "pack_folder",
    "sniff_format",
    "unpack_folder",
]
