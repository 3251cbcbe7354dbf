"""The List* filters every SageMaker list operation shares (slipway.compat.sagemaker.shapes)."""

from __future__ import annotations

import datetime as dt

from slipway.compat.sagemaker.shapes import in_window, matches

T = 1_700_000_000.0  # an item's epoch time


def test_name_and_status_filters() -> None:
    assert matches({}, "Churn-Model", "InService")
    assert matches({"NameContains": "churn"}, "Churn-Model", "InService")  # case-insensitive substring
    assert not matches({"NameContains": "iris"}, "Churn-Model", "InService")
    assert matches({"StatusEquals": "InService"}, "churn", "InService")
    assert not matches({"StatusEquals": "Failed"}, "churn", "InService")
    assert not matches({"NameContains": "churn", "StatusEquals": "Failed"}, "churn", "InService")
    assert matches({"NameContains": "", "StatusEquals": None}, "churn")  # empty filters pass everything


def test_time_window_bounds_are_exclusive() -> None:
    assert in_window({}, T, T)
    assert not in_window({"CreationTimeAfter": T}, T)  # "created after": the same second is out
    assert in_window({"CreationTimeAfter": T - 1}, T)
    assert not in_window({"CreationTimeBefore": T}, T)
    assert in_window({"CreationTimeBefore": T + 1}, T)
    assert not in_window({"LastModifiedTimeAfter": T}, 0.0, T)
    assert not in_window({"LastModifiedTimeBefore": T}, 0.0, T)
    assert in_window({"LastModifiedTimeAfter": T - 1, "LastModifiedTimeBefore": T + 1}, 0.0, T)
    # without a modified time (operations that filter on creation only) the LastModified bounds do not apply
    assert in_window({"LastModifiedTimeBefore": T}, T - 10)
    # a bound of 0 (the epoch) is a bound, not an absent one
    assert not in_window({"CreationTimeBefore": 0}, T)


def test_time_window_reads_every_timestamp_form() -> None:
    when = dt.datetime.fromtimestamp(T, dt.UTC)
    for bound in (T - 0.5, when - dt.timedelta(seconds=1), (when - dt.timedelta(seconds=1)).isoformat(),
                  (when - dt.timedelta(seconds=1)).replace(tzinfo=None)):
        assert in_window({"CreationTimeAfter": bound}, T), bound
        assert not in_window({"CreationTimeBefore": bound}, T), bound
