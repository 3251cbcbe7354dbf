"""Leader election over Postgres advisory locks, against the session's real Postgres server."""

from __future__ import annotations

import threading

import psycopg
import pytest

from slipway.controllers.base import Controller, ControllerManager
from slipway.controllers.leader import AdvisoryLockElection, SingleServer, lock_key, open_election
from tests.conftest import fresh_pg_database


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_sqlite_server_leads_everything() -> None:
    election = open_election("sqlite:///x.db")
    assert isinstance(election, SingleServer)
    assert election.lead("jobs") and election.leading() == ["jobs"]


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("controller:jobs") == lock_key("controller:jobs")
    assert lock_key("controller:jobs") != lock_key("controller:endpoints")
    assert -(2**63) <= lock_key("controller:jobs") < 2**63


@pytest.mark.postgres
def test_one_leader_and_takeover_when_its_connection_ends(postgres: str) -> None:
    dsn = _dsn(fresh_pg_database(postgres))
    first, second = AdvisoryLockElection(dsn), AdvisoryLockElection(dsn)
    first.recheck = 0.0  # check the connection on every ask, so the loss shows on the next one
    try:
        assert first.lead("jobs") and first.lead("jobs")  # re-asking keeps it
        assert not second.lead("jobs")
        assert second.lead("endpoints") and not first.lead("endpoints")
        assert (first.leading(), second.leading()) == (["jobs"], ["endpoints"])
        # The leader's connection is cut by the database (as when its process dies): it steps down,
        # and the next try of the other server wins.
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'slipway-leader' AND pid IN "
                          "(SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s)",
                          (lock_key("controller:jobs") & 0xFFFFFFFF,))
        assert not first.lead("jobs") and first.leading() == []
        assert second.lead("jobs") and second.leading() == ["endpoints", "jobs"]
    finally:
        first.close()
        second.close()


class _Counter(Controller):
    name = "counter"
    interval = 0.01

    def __init__(self) -> None:
        self.starts = 0
        self.passes = threading.Event()

    def start(self) -> None:
        self.starts += 1

    def reconcile(self) -> None:
        self.passes.set()


@pytest.mark.postgres
def test_manager_runs_a_singleton_only_where_it_leads(postgres: str) -> None:
    dsn = _dsn(fresh_pg_database(postgres))
    led, waiting = _Counter(), _Counter()
    one = ControllerManager([led], 0.01, AdvisoryLockElection(dsn))
    one.start()
    two = ControllerManager([waiting], 0.01, AdvisoryLockElection(dsn))
    two.start()
    try:
        assert led.passes.wait(10) and led.starts == 1
        assert one.leading() == ["counter"] and two.leading() == []
        assert waiting.starts == 0 and not waiting.passes.is_set()
        one.stop()  # a clean stop gives the leadership up at once
        assert waiting.passes.wait(10) and waiting.starts == 1 and two.leading() == ["counter"]
    finally:
        one.stop()
        two.stop()


def test_stopping_wakes_a_controller_sleeping_on_its_own_event() -> None:
    """A controller that sleeps on its own wake-up event (new work) ends its sleep when the server stops,
    instead of finishing its interval: each server's shutdown waited out those intervals before."""

    class Sleepy(Controller):
        name = "sleepy"
        interval = 3600.0

        def __init__(self) -> None:
            self.event = threading.Event()
            self.stopped = threading.Event()

        def reconcile(self) -> None:
            pass

        def sleep(self, timeout: float, stop: threading.Event) -> None:
            self.event.wait(timeout)

        def wake(self) -> None:
            self.event.set()

        def stop(self) -> None:
            self.stopped.set()

    sleepy = Sleepy()
    manager = ControllerManager([sleepy])
    manager.start()
    while manager.passes["sleepy"] == 0:
        threading.Event().wait(0.01)
    manager.stop(timeout=30)
    assert sleepy.stopped.is_set()  # the loop ended and ran the controller's stop: it did not sleep out the hour
