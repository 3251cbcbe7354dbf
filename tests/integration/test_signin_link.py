"""`slipway up` prints a one-time dashboard sign-in link and three next commands; the link signs a browser in
once, its key does nothing through the API, and `slipway keys signin-link` makes another."""

from __future__ import annotations

import re

from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for

LINK = re.compile(r"Dashboard: (http://\S+/ui/login)#signin=(swk_\S+)")


def test_signin_link_signs_in_once(server: SlipwayServer, cli) -> None:  # type: ignore[no-untyped-def]
    wait_for(lambda: LINK.search(server.log()), timeout=30, what="the sign-in link in the server's output")
    printed = server.log()
    login_url, key = LINK.search(printed).groups()  # type: ignore[union-attr]
    assert login_url == f"{server.url}/ui/login"
    assert "valid 15m" in printed and "slipway keys signin-link" in printed
    assert "Next, in another terminal" in printed and "  slipway status" in printed

    with server.http(api_key=key) as api:
        assert api.get("/api/v1/datasets").status_code == 403  # good for nothing but signing in
    with server.http(api_key=None, follow_redirects=False) as browser:
        signed_in = browser.post("/ui/login", data={"key": key, "next": "/"})
        assert signed_in.status_code == 303
        session = signed_in.cookies["slipway_key"]
        assert session.startswith("swk_") and session != key
        # The client kept the session cookie, as a browser does: the dashboard opens.
        assert browser.get("/").status_code == 200
        browser.cookies.clear()
        assert browser.get("/").status_code == 303  # without it: back to the sign-in page
        again = browser.post("/ui/login", data={"key": key, "next": "/"})
        assert again.status_code == 401 and "Invalid API key" in again.text

    r = cli("keys", "signin-link")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(rf"{re.escape(server.url)}/ui/login#signin=swk_\S+\n", r.stdout)
    assert "one-time sign-in link for admin" in r.stderr
