"""The dashboard in a real headless Chromium: sign in, open every page, perform every action, read what a user sees.

One server and one browser serve the whole module (CI time); tests share its data and run in file
order (``xdist_group`` keeps them on one worker). Chromium comes from the distribution's packages
(``make test`` installs it); without it these tests fail rather than skip.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from slipway.client import Client
from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.xdist_group("dashboard-browser"), pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlipwayServer]:
    server = SlipwayServer(tmp_path_factory.mktemp("browser") / "home").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sdk(srv: SlipwayServer) -> Iterator[Client]:
    with Client(url=srv.url, home=srv.home) as c:
        yield c


@pytest.fixture(scope="module")
def world(sdk: Client, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A dataset, two finished built-in jobs (one-pass and per-epoch) and a model with a version from each."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 3))
    rows = [f"{a:.3f},{b:.3f},{c:.3f},{'yes' if a + b > 0 else 'no'}" for a, b, c in x]
    path = tmp_path_factory.mktemp("data") / "shapes.csv"
    path.write_text("a,b,c,label\n" + "\n".join(rows) + "\n")
    sdk.datasets.push("shapes", path, label="label")
    lr = sdk.jobs.create("lr", algorithm="logistic-regression", data={"train": "shapes:1"}, validation_split=0.25)
    mlp = sdk.jobs.create("mlp", algorithm="mlp", data={"train": "shapes:1"}, validation_split=0.25,
                          hyperparameters={"hidden_layer_sizes": "8", "max_iter": 30})
    lr.wait(timeout=240)
    mlp.wait(timeout=240)
    assert (lr.status, mlp.status) == ("Completed", "Completed"), (lr.failure_reason, mlp.failure_reason)
    sdk.models.register("lr", "shapes-model")
    sdk.models.register("mlp", "shapes-model")
    sdk.users.create("vera", "viewer")
    return {"viewer_key": sdk.keys.create(user="vera").key}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}. Install it with `apt-get install -y chromium` "
                    "(`make test` does it when it is missing).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_in(browser: Any, srv: SlipwayServer, key: str) -> Any:
    """A fresh browser context signed in through the login form; returns its page."""
    page = browser.new_context(base_url=srv.url).new_page()
    page.goto("/ui/models")
    assert "/ui/login" in page.url  # not signed in yet: sent to the sign-in page
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/models$"))
    return page


@pytest.fixture(scope="module")
def admin(browser: Any, srv: SlipwayServer, world: dict[str, Any]) -> Iterator[Any]:
    page = sign_in(browser, srv, srv.admin_key)
    yield page
    page.context.close()


def notice(page: Any) -> str:
    return str(page.locator("p.notice").inner_text())


def test_sign_in_refuses_a_bad_key(browser: Any, srv: SlipwayServer) -> None:
    page = browser.new_context(base_url=srv.url).new_page()
    page.goto("/ui/login")
    page.fill("input[name=key]", "swk_nope_nope")
    page.click("button[type=submit]")
    assert "Sign in" in page.locator("h1").inner_text()
    assert page.locator(".badge.bad").is_visible()
    page.context.close()


def test_every_page_opens(admin: Any) -> None:
    from playwright.sync_api import expect

    for label, heading in [("Overview", "Overview"), ("Datasets", "Datasets"), ("Jobs", "Training jobs"),
                           ("Tuning", "Tuning jobs"), ("Models", "Models"), ("Endpoints", "Endpoints"),
                           ("Monitors", "Drift monitors"), ("Alarms", "Alarms"), ("Pipelines", "Pipelines"),
                           ("Transforms", "Batch transforms"), ("Keys", "API keys")]:
        admin.click(f"header nav >> text={label}")
        expect(admin.locator("h1")).to_have_text(heading)
        expect(admin.locator("header nav a.active")).to_have_text(label)
    admin.goto("/ui/datasets")
    admin.click("a:text-is('shapes')")
    expect(admin.locator("h1")).to_contain_text("shapes:1")
    expect(admin.locator("main")).to_contain_text("float64")
    admin.goto("/")
    activity = admin.locator("table.activity")
    expect(activity).to_contain_text("model version shapes-model:2 registered")
    expect(activity).to_contain_text("training job Completed")
    # The logo is drawn, not a glyph from an emoji font.
    assert admin.locator("header .brand svg").bounding_box()["width"] > 10
    admin.click("table.activity a:text-is('model/shapes-model')")
    expect(admin.locator("h1")).to_contain_text("Model shapes-model")


def test_a_job_page_says_its_status_once_draws_curves_and_wraps_logs(admin: Any) -> None:
    from playwright.sync_api import expect

    admin.goto("/ui/jobs")
    admin.click("a:text-is('mlp')")
    expect(admin.locator("h1")).to_have_text(re.compile(r"^\s*mlp\s+Completed\s*$"))  # not "Completed Completed"
    loss = admin.locator("figure.uchart:has(.u-title:text-is('loss'))")
    expect(loss).to_have_attribute("data-drawn", "uplot")  # drawn by uPlot in the browser, over the server's SVG
    assert loss.get_attribute("data-series") == "1" and int(loss.get_attribute("data-points")) > 1
    log = admin.locator("pre.log")
    expect(log).to_contain_text("Fitting mlp")
    assert log.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    assert log.evaluate("e => e.scrollWidth <= e.clientWidth")  # nothing cut at the right edge
    # A one-pass algorithm has no curve: its final metrics are drawn as bars instead of "No metric series".
    admin.goto("/ui/jobs/lr")
    expect(admin.locator("svg.chart[aria-label^='final metrics']")).to_be_visible()
    expect(admin.locator("main")).not_to_contain_text("No metric series")


def test_model_page_shows_versions_signature_lineage_and_history(admin: Any) -> None:
    from playwright.sync_api import expect

    admin.goto("/ui/models")
    admin.click("a:text-is('shapes-model')")
    expect(admin.locator("h1")).to_contain_text("shapes-model:2")
    versions = admin.locator("main table").filter(has_text="registered")
    expect(versions).to_contain_text("shapes-model:1")
    expect(admin.locator("dl.kv").last).to_contain_text("no, yes")  # the labels of the signature
    expect(admin.locator("main")).to_contain_text("a:float64")
    lineage = admin.locator("svg.lineage")
    expect(lineage).to_contain_text("shapes:1")
    expect(lineage).to_contain_text("mlp")
    lineage.locator("a", has_text="mlp").click()
    expect(admin.locator("h1")).to_contain_text("mlp")
    admin.go_back()
    admin.click("a:text-is('shapes-model:1')")
    expect(admin.locator("svg.lineage")).to_contain_text("lr")


def test_approve_reject_and_move_an_alias(admin: Any, sdk: Client) -> None:
    from playwright.sync_api import expect

    admin.goto("/ui/models/shapes-model?version=1")
    admin.fill("input[name=reason]", "looks right")
    admin.click("button:has-text('Approve')")
    assert notice(admin) == "shapes-model:1 is now Approved."
    expect(admin.locator("h1 .badge")).to_have_text("Approved")
    admin.goto("/ui/models/shapes-model?version=2")
    admin.click("button:has-text('Reject')")
    assert notice(admin) == "shapes-model:2 is now Rejected."
    admin.fill("input[name=alias]", "prod")
    admin.select_option("select[name=version]", "1")
    admin.click("button:has-text('Move alias')")
    assert notice(admin) == "@prod now points at shapes-model:1."
    admin.goto("/ui/models/shapes-model?version=2")
    admin.fill("input[name=alias]", "prod")
    admin.click("button:has-text('Move alias')")
    assert notice(admin) == "@prod now points at shapes-model:2."
    history = admin.locator("main table").last
    expect(history.locator("tr").nth(1)).to_contain_text("alias @prod")
    expect(history.locator("tr").nth(1)).to_contain_text("1 → 2")
    expect(history).to_contain_text("looks right")
    # The same services as the API: the registry and the audit trail saw the signed-in admin.
    assert sdk.models.get("shapes-model@prod").version == 2
    assert sdk.models.get("shapes-model:1").approval_by == "admin"
    events = sdk.audit.list(action="models:*", limit=50).items
    assert {(e.action, e.user, e.path) for e in events} >= {
        ("models:Approve", "admin", "/ui/models/shapes-model/versions/1/approval"),
        ("models:SetAlias", "admin", "/ui/models/shapes-model/aliases")}
    # Remove an alias with its × button, then put it back for the next test.
    admin.click("button[aria-label='remove alias prod']")
    assert notice(admin) == "Removed alias @prod of shapes-model."
    sdk.models.alias("shapes-model", "prod", 2)


def test_deploy_update_and_roll_back_an_endpoint(admin: Any, sdk: Client) -> None:
    from playwright.sync_api import expect

    # Deploy the version itself (its ref is always offered; aliases are the previous test's business).
    admin.goto("/ui/models/shapes-model?version=2")
    admin.fill("input[name=endpoint]", "shapes-web")
    admin.select_option("select[name=model]", "shapes-model:2")
    admin.click("button:has-text('Deploy')")
    assert notice(admin).startswith("Deploying shapes-model:2 to endpoint shapes-web")
    expect(admin.locator("h1")).to_contain_text("Endpoint shapes-web")
    # The page refreshes itself while the replica starts: no reload needed.
    expect(admin.locator("h1 .badge")).to_have_text("InService", timeout=180_000)
    assert admin.locator("#endpoint[hx-get]").count() == 0  # and stops polling once settled
    expect(admin.locator("main")).to_contain_text("100%")
    expect(admin.locator("h2:has-text('Replicas') + table")).to_contain_text("primary")

    # Add a canary on version 1 with the same weight: half the traffic each.
    admin.locator("input[name=variant]").last.fill("canary")
    admin.locator("input[name=model]").last.fill("shapes-model:1")
    admin.locator("input[name=weight]").last.fill("1")
    admin.click("button:has-text('Update')")
    assert notice(admin).startswith("Updating shapes-web to primary=shapes-model:2:1, canary=shapes-model:1:1")
    assert sdk.endpoints.wait("shapes-web", 180).status == "InService"
    admin.reload()
    variants = admin.locator("h2:has-text('Variants') + table")
    expect(variants).to_contain_text("canary")
    assert variants.locator("text=50%").count() == 2

    admin.click("button:has-text('Roll back')")
    assert notice(admin).startswith("Rolling shapes-web back")
    assert sdk.endpoints.wait("shapes-web", 180).status == "InService"
    admin.reload()
    expect(admin.locator("h2:has-text('Variants') + table")).not_to_contain_text("canary")
    deployments = admin.locator("h2:has-text('Deployments') + table")
    expect(deployments).to_contain_text("rollback")
    expect(deployments).to_contain_text("update")
    expect(deployments).to_contain_text("create")
    admin.goto("/ui/endpoints")
    expect(admin.locator("main table")).to_contain_text("shapes-web")


def test_endpoint_page_draws_live_charts_of_its_traffic(admin: Any, sdk: Client) -> None:
    """uPlot (served from the package) draws throughput, latency and errors; the page reloads their data."""
    from playwright.sync_api import expect

    # Its own endpoint: the charts count only what this test sends, whatever the other tests did.
    sdk.endpoints.deploy("shapes-charts", "shapes-model:2", wait=True, timeout=180)
    for _ in range(5):
        sdk.endpoints.invoke("shapes-charts", [{"a": 0.1, "b": -0.2, "c": 0.3}])
    admin.goto("/ui/endpoints/shapes-charts")
    charts = admin.locator("#endpoint-charts figure.uchart")
    expect(charts).to_have_count(3)
    for i, title in enumerate(["requests per second", "latency (ms)", "errors per minute"]):
        figure = charts.nth(i)
        expect(figure).to_have_attribute("data-drawn", "uplot")
        expect(figure.locator("canvas")).to_have_count(1)
        expect(figure.locator(".u-title")).to_have_text(title)
    requests = charts.nth(0)
    assert requests.evaluate("f => f._plot.data[1].reduce((a, b) => a + (b || 0), 0)") > 0
    assert int(charts.nth(1).get_attribute("data-points")) >= 3  # p50, p95, p99 of the minute with traffic
    # Live: requests sent now show up at the next reload without reloading the page.
    before = requests.evaluate("f => f._plot.data[1].reduce((a, b) => a + (b || 0), 0)")
    for _ in range(30):
        sdk.endpoints.invoke("shapes-charts", [{"a": 0.1, "b": -0.2, "c": 0.3}])

    def refreshed_total() -> float:  # what the page's timer does every 10 s, done now
        requests.evaluate("f => window.SlipwayCharts.refresh(f)")
        admin.wait_for_timeout(300)
        return float(requests.evaluate("f => f._plot.data[1].reduce((a, b) => a + (b || 0), 0)"))

    wait_for(lambda: refreshed_total() > before, timeout=20, what="the refreshed chart to count the new requests")
    expect(requests).to_have_attribute("data-refreshed", re.compile(r"\d+"))


def test_monitor_and_alarm_pages_draw_drift_and_state(admin: Any, sdk: Client) -> None:
    """A model registered from a job gets its baseline by itself; shifted traffic drifts; the pages chart it."""
    from playwright.sync_api import expect

    served = sdk.endpoints.get("shapes-web").live["variants"][0]["model"]
    wait_for(lambda: (sdk.models.get(served).baseline or {}).get("status") == "Ready", timeout=60,
             what=f"the baselines controller to compute {served}'s baseline")
    sdk.monitors.create("shapes-drift", "shapes-web", every="1m")
    sdk.alarms.create("shapes-drifting", "monitor/shapes-drift/drifted_features", above=0, statistic="max",
                      missing="notBreaching")
    rng = np.random.default_rng(1)
    for _ in range(4):
        rows = [{"a": float(a) + 4.0, "b": float(b), "c": float(c)} for a, b, c in rng.normal(size=(40, 3))]
        sdk.endpoints.invoke("shapes-web", rows)
    first = sdk.monitors.run("shapes-drift")  # (the earlier tests' one repeated row drifts b and c as well)
    assert "a" in first.drifted_features, first
    sdk.monitors.run("shapes-drift")  # a second point for the chart over time
    wait_for(lambda: sdk.alarms.get("shapes-drifting").state == "ALARM", timeout=30, what="the alarm")

    admin.goto("/ui/monitors/shapes-drift")
    expect(admin.locator("h1")).to_contain_text("Monitor shapes-drift")
    expect(admin.locator("table.drift tr:has(td:text-is('a'))")).to_contain_text("drift")
    over_time = admin.locator("figure.uchart").first
    expect(over_time).to_have_attribute("data-drawn", "uplot")
    assert over_time.evaluate("f => f._plot.data[1].filter(v => v != null).length") == 2
    expect(admin.locator("h3:has-text('baseline vs live')").first).to_be_visible()
    admin.click("header nav >> text=Alarms")
    admin.click("a:text-is('shapes-drifting')")
    expect(admin.locator("h1 .badge")).to_have_text("ALARM")
    expect(admin.locator("figure.uchart")).to_have_attribute("data-drawn", "uplot")
    expect(admin.locator("h2:has-text('History') + table")).to_contain_text("INSUFFICIENT_DATA")


def test_transform_and_autoscaled_endpoint_pages(admin: Any, sdk: Client) -> None:
    """A finished transform links its output; an autoscaled endpoint shows its Scaling section and async requests."""
    from playwright.sync_api import expect

    job = sdk.transforms.create("shapes-batch", "shapes-model:2", "shapes:1", "shapes-preds", batch=50, wait=True,
                                timeout=240)
    assert job.status == "Completed", job.failure_reason
    admin.goto("/ui/transforms")
    admin.click("a:text-is('shapes-batch')")
    expect(admin.locator("h1 .badge")).to_have_text("Completed")
    expect(admin.locator("dd.progress")).to_contain_text("160 of 160 rows")
    admin.click("dd.output a:text-is('shapes-preds:1')")
    expect(admin.locator("h1")).to_contain_text("shapes-preds:1")

    sdk.endpoints.deploy("shapes-auto", "shapes-model:2", scaling={"min_replicas": 0, "max_replicas": 2,
                                                                   "idle_to_zero": 1, "scale_in_after": 1})
    wait_for(lambda: any("zero" in d.reason for d in sdk.endpoints.get("shapes-auto").scaling.decisions),
             timeout=60, what="the autoscaler to scale shapes-auto to zero")
    queued = sdk.endpoints.invoke_async("shapes-auto", [{"a": 0.1, "b": -0.2, "c": 0.3}])
    admin.goto("/ui/endpoints/shapes-auto")
    scaling = admin.locator("h2:text-is('Scaling') + div.scaling")
    expect(scaling).to_contain_text("0 to 2 replicas")
    expect(scaling.locator("dd.replicas")).to_contain_text("desired")
    expect(scaling.locator("table.decisions")).to_contain_text("→ 0")
    expect(admin.locator("table.async")).to_contain_text(queued.id)
    admin.goto("/ui/endpoints/shapes-web")  # a fixed endpoint has no Scaling section
    expect(admin.locator("h2:text-is('Scaling')")).to_have_count(0)


SLEEPER = """
    import time
    print("started", flush=True)
    time.sleep(120)
"""


def test_stop_a_job_and_a_tuning_job(admin: Any, sdk: Client, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    src = tmp_path / "sleeper"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent(SLEEPER))
    sdk.jobs.create("sleepy", script="train.py", source_dir=src)
    wait_for(lambda: sdk.jobs.get("sleepy").status == "InProgress", timeout=120, what="the job to start")
    admin.goto("/ui/jobs/sleepy")
    admin.click("button:has-text('Stop job')")
    assert notice(admin).startswith("Stop requested for job sleepy")
    expect(admin.locator("h1 .badge")).to_have_text("Stopped", timeout=120_000)  # the page follows the job
    assert sdk.jobs.get("sleepy").status == "Stopped"
    assert admin.locator("button:has-text('Stop job')").count() == 0

    job = sdk.jobs.build_request("tune", algorithm="logistic-regression", data={"train": "shapes:1"},
                                 validation_split=0.25)
    sdk.tuning.create("tune", job=job, objective="validation:accuracy", ranges=["C=0.01:10:log"], max_trials=20,
                      max_parallel=1, seed=0)
    admin.goto("/ui/tuning/tune")
    admin.click("button:has-text('Stop tuning job')")
    assert notice(admin).startswith("Stop requested for tuning job tune")
    expect(admin.locator("h1 .badge")).to_have_text("Stopped", timeout=120_000)
    assert sdk.tuning.get("tune").view.status == "Stopped"


def test_create_and_revoke_a_key(admin: Any, browser: Any, srv: SlipwayServer) -> None:
    from playwright.sync_api import expect

    admin.goto("/ui/keys")
    admin.fill("input[name=user]", "vera")
    admin.fill("input[name=expires]", "1d")
    admin.fill("input[name=description]", "from the browser")
    admin.click("button:has-text('Create key')")
    key = admin.locator("#new-key").input_value()
    assert key.startswith("swk_")
    row = admin.locator("tr", has_text="from the browser")
    expect(row).to_contain_text("active")

    vera = sign_in(browser, srv, key)  # the new key works
    expect(vera.locator("header .who")).to_contain_text("vera")

    admin.goto("/ui/keys")  # the key is not shown again
    assert admin.locator("#new-key").count() == 0
    admin.locator("tr", has_text="from the browser").locator("button:has-text('Revoke')").click()
    assert notice(admin).endswith("of vera is revoked.")
    expect(admin.locator("tr", has_text="from the browser")).to_contain_text("revoked")
    vera.goto("/ui/models")
    assert "/ui/login" in vera.url  # a revoked key signs the browser out
    vera.context.close()


def test_a_signin_link_signs_the_browser_in_once(browser: Any, srv: SlipwayServer, sdk: Client) -> None:
    """The link `slipway up` prints (and `slipway keys signin-link` makes): its page posts the key from the URL's
    fragment, the browser lands signed in, the key leaves the address bar, and a second use is refused."""
    from playwright.sync_api import expect

    url, _ = sdk.keys.signin_link()
    assert "#signin=swk_" in url
    page = browser.new_context(base_url=srv.url).new_page()
    page.goto(url)
    page.wait_for_url(lambda u: "/ui/login" not in u)
    expect(page.locator("header .who")).to_contain_text("admin")
    page.goto("/ui/models")
    assert "/ui/login" not in page.url  # the session holds
    page.context.close()

    again = browser.new_context(base_url=srv.url).new_page()
    again.goto(url)
    expect(again.locator(".badge.bad")).to_contain_text("Invalid API key")
    assert "signin=" not in again.url  # dropped from the address bar before the post
    again.context.close()


def test_a_denied_action_shows_the_api_message(browser: Any, srv: SlipwayServer, world: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    viewer = sign_in(browser, srv, world["viewer_key"])
    viewer.goto("/ui/models/shapes-model?version=1")
    with viewer.expect_response(lambda r: r.request.method == "POST") as answer:
        viewer.click("button:has-text('Reject')")
    assert answer.value.status == 403
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {world['viewer_key']}"}) as api:
        api_message = api.put("/api/v1/models/shapes-model/versions/1/approval",
                              json={"status": "Rejected"}).json()["error"]["message"]
    expect(viewer.locator("p.error")).to_have_text(api_message)
    assert "may not models:Approve on model/shapes-model" in api_message
    viewer.context.close()


def test_a_cross_site_form_is_refused(admin: Any, srv: SlipwayServer, sdk: Client) -> None:
    # A page elsewhere posting to the dashboard with the admin's browser: the change never happens
    # (the SameSite=Strict cookie stays home, and the browser lands on the sign-in page).
    form_html = (f'<form method="post" action="{srv.url}/ui/models/shapes-model/aliases">'
                 '<input name="alias" value="evil"><input name="version" value="1"><button>go</button></form>')
    admin.goto("about:blank")
    admin.set_content(form_html)
    admin.click("button")
    admin.wait_for_url(re.compile(r".*/ui/login.*"))
    # A form on the dashboard's own origin without the page's CSRF token is refused too.
    admin.goto("/ui/models")
    admin.set_content(form_html)
    admin.click("button")
    admin.wait_for_url(re.compile(r".*/aliases$"))
    assert "CSRF token is missing or stale" in admin.locator("p.error").inner_text()
    assert "evil" not in {a for v in sdk.models.versions("shapes-model").items for a in v.aliases}

    # The same refusals checked one by one: the cookie alone, a foreign origin, then the right form.
    cookie = next(c for c in admin.context.cookies() if c["name"] == "slipway_key")["value"]
    from slipway.web.forms import csrf_token

    form = {"alias": "evil", "version": "1"}
    with httpx.Client(base_url=srv.url, cookies={"slipway_key": cookie}) as http:
        no_token = http.post("/ui/models/shapes-model/aliases", data=form)
        assert no_token.status_code == 403 and "CSRF token is missing or stale" in no_token.text
        foreign = http.post("/ui/models/shapes-model/aliases", data={**form, "csrf": csrf_token(cookie)},
                            headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403 and "is not this server" in foreign.text
        assert "evil" not in {a for v in sdk.models.versions("shapes-model").items for a in v.aliases}
        ok = http.post("/ui/models/shapes-model/aliases", data={**form, "csrf": csrf_token(cookie)},
                       headers={"Origin": srv.url})
        assert ok.status_code == 303
    assert sdk.models.get("shapes-model@evil").version == 1
    denied = sdk.audit.list(action="models:SetAlias", outcome="denied", limit=10).items
    assert len(denied) >= 2 and all(e.status == 403 for e in denied)
