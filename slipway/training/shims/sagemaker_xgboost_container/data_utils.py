"""sagemaker_xgboost_container.data_utils.get_dmatrix: a channel's files as one DMatrix, as the container reads them.

CSV: no header, the label in the first column (weights in the second with ``csv_weights=1``). libsvm: the
label first, then index:value pairs. Parquet and RecordIO-protobuf are not read by this stand-in.
"""

import os
import tempfile

LIBSVM = ("libsvm", "text/libsvm", "text/x-libsvm")
CSV = ("csv", "text/csv")


def _files(path):
    if os.path.isfile(path):
        return [path]
    found = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, n) for n in sorted(names) if not n.startswith(".")]
    return found


def get_dmatrix(data_path, content_type, csv_weights=0, is_pipe=False):
    """A DMatrix of every file under ``data_path``, or None when there is no path or no file."""
    import numpy as np
    import xgboost as xgb

    if not data_path or not os.path.exists(data_path):
        return None
    files = _files(data_path)
    if not files:
        return None
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in LIBSVM:
        if len(files) == 1:
            return xgb.DMatrix(files[0] + "?format=libsvm")
        with tempfile.NamedTemporaryFile("wb", suffix=".libsvm", delete=False) as joined:
            for f in files:
                with open(f, "rb") as part:
                    data = part.read()
                joined.write(data if data.endswith(b"\n") else data + b"\n")
        try:
            return xgb.DMatrix(joined.name + "?format=libsvm")
        finally:
            os.unlink(joined.name)
    if kind in CSV:
        rows = np.concatenate([np.atleast_2d(np.loadtxt(f, delimiter=",", ndmin=2)) for f in files])
        first = 2 if csv_weights == 1 else 1
        weights = rows[:, 1] if csv_weights == 1 else None
        return xgb.DMatrix(rows[:, first:], label=rows[:, 0], weight=weights)
    raise NotImplementedError(f"Slipway's stand-in for get_dmatrix reads csv and libsvm, not {content_type!r}: "
                              "convert the channel's data, or add sagemaker-xgboost-container to requirements.txt.")
