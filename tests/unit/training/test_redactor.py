"""The job log's secret redaction: a value never gets through, however the output is cut into chunks."""

from __future__ import annotations

import io
import random

import pytest

from slipway.training.runner import Redactor

TEXT = "start hunter2-secret in the middle\nline two hunter2-secret\nmulti\nline-value end\nno newline: hunter2-secret"


@pytest.mark.parametrize("seed", range(20))
def test_any_chunking_redacts_every_value(seed: int) -> None:
    rng = random.Random(seed)
    out = io.BytesIO()
    r = Redactor(["hunter2-secret", "multi\nline-value"], out)
    data = TEXT.encode()
    i = 0
    while i < len(data):
        n = rng.randint(1, 9)
        r.feed(data[i:i + n])
        i += n
    r.close()
    assert out.getvalue().decode() == ("start *** in the middle\nline two ***\n*** end\nno newline: ***")


def test_complete_lines_are_written_at_once_when_no_value_spans_lines() -> None:
    out = io.BytesIO()
    r = Redactor(["a-rather-long-secret-value"], out)
    r.feed(b"epoch 1 loss 0.3\nepoch 2")
    assert out.getvalue() == b"epoch 1 loss 0.3\n"  # live, though shorter than a value
    r.feed(b" loss 0.2\n")
    assert out.getvalue() == b"epoch 1 loss 0.3\nepoch 2 loss 0.2\n"


def test_the_wait_for_the_last_output_lasts_while_it_keeps_coming() -> None:
    """A pipe held open after the script ended (by something it started) still gets every line that arrives
    while output keeps coming, however long that takes, and the wait ends once it stops."""
    import os
    import threading
    import time

    from slipway.training.runner import _drain

    read, write = os.pipe()
    out = io.BytesIO()
    r = Redactor([], out)
    pump = threading.Thread(target=r.pump, args=(read,), daemon=True)
    pump.start()
    lines = [f"trial metric {i}\n".encode() for i in range(40)]

    def trickle() -> None:  # slower in all than the idle wait, but never idle for that long
        for line in lines:
            os.write(write, line)
            time.sleep(0.05)

    writer = threading.Thread(target=trickle)
    writer.start()
    try:
        _drain(pump, r, idle=1.0)
        copied = r.copied  # when the wait ended
        writer.join()
        assert copied == sum(len(line) for line in lines)
        assert pump.is_alive()  # the pipe is still open: the wait ended on silence, not end of file
    finally:
        os.close(write)
        pump.join(timeout=5)
        os.close(read)
    assert out.getvalue() == b"".join(lines)
