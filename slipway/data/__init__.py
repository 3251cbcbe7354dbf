"""Datasets on disk: detecting their format, inspecting them as a stream, packing folders.

The dataset service calls `detect_format` then `inspect` on an upload, and
`pack_folder` / `unpack_folder` to move folder datasets as deterministic tars.
"""

from __future__ import annotations

from slipway.data.folders import iter_folder_files, pack_folder, unpack_folder
from slipway.data.formats import (
    FOLDER_FORMATS,
    FORMATS,
    ColumnInfo,
    DatasetInfo,
    detect_format,
    inspect,
)

__all__ = [
    "FOLDER_FORMATS",
    "FORMATS",
    "ColumnInfo",
    "DatasetInfo",
    "detect_format",
    "inspect",
    "iter_folder_files",
    "pack_folder",
    "unpack_folder",
]
