"""The dashboard renders real data from a real server."""

from __future__ import annotations

from tests.support.servers import SlipwayServer


def test_pages_render(sqlite_server: SlipwayServer, make_csv, tmp_path) -> None:
    from slipway.client import Client

    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        c.datasets.push("cancer", make_csv(rows=12), label="label")
        folder = tmp_path / "txt"
        for cls in ("a", "b"):
            (folder / cls).mkdir(parents=True)
            (folder / cls / "1.txt").write_text(f"text {cls}")
        c.datasets.push("texts", folder)
    with sqlite_server.http() as http:
        home = http.get("/")
        assert home.status_code == 200 and "dataset versions" in home.text
        page = http.get("/ui/datasets")
        assert 'href="/ui/datasets/cancer"' in page.text and "cancer:1" in page.text
        detail = http.get("/ui/datasets/cancer:1")
        assert detail.status_code == 200 and "sha256" in detail.text and "float64" in detail.text
        chart = http.get("/ui/datasets/texts")
        assert "<svg" in chart.text and "examples per class" in chart.text
        assert http.get("/static/htmx.min.js").status_code == 200
        missing = http.get("/ui/datasets/nope:1")
        assert missing.status_code == 404


def test_charts_render_series() -> None:
    from slipway.web.charts import line_chart

    svg = str(line_chart({"train:loss": [(1, 0.9), (2, 0.5), (3, 0.3)], "validation:loss": [(1, 1.0), (2, 0.7)]},
                         title="loss"))
    assert svg.count("<polyline") == 2 and "validation:loss" in svg
    assert "no data yet" in str(line_chart({}, title="x"))


def test_dashboard_sign_in_with_a_key(sqlite_server: SlipwayServer) -> None:
    key = sqlite_server.admin_key
    with sqlite_server.http(api_key=None, follow_redirects=False) as anon:
        r = anon.get("/ui/datasets")
        assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/datasets"
        assert anon.get("/ui/login").status_code == 200
        bad = anon.post("/ui/login", content="key=swk_nope_nope&next=/", headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert bad.status_code == 401
        ok = anon.post("/ui/login", content=f"key={key}&next=//evil.example",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert anon.get("/ui/datasets").status_code == 200
        # The cookie opens dashboard pages only, never the API or a change.
        assert anon.get("/api/v1/datasets").status_code == 401
        assert anon.delete("/api/v1/datasets/x:1").status_code == 401


def test_job_and_tuning_pages_plot_metrics(sqlite_server: SlipwayServer, tmp_path) -> None:
    import numpy as np

    from slipway.client import Client

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    lines = ["a,b,c,label"] + [f"{r[0]:.3f},{r[1]:.3f},{r[2]:.3f},{'y' if r[0] > 0 else 'n'}" for r in x]
    (tmp_path / "d.csv").write_text("\n".join(lines))
    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        c.datasets.push("d", tmp_path / "d.csv", label="label")
        c.jobs.create("gb", algorithm="gradient-boosting", data={"train": "d:1"}, validation_split=0.25,
                      hyperparameters={"max_iter": 16}).wait(timeout=180)
        job = c.jobs.build_request("tu", algorithm="logistic-regression", data={"train": "d:1"}, validation_split=0.25)
        c.tuning.create("tu", job=job, objective="validation:accuracy", ranges=["C=0.01:10:log"], max_trials=2,
                        seed=0).wait(timeout=180)
    with sqlite_server.http() as http:
        page = http.get("/ui/jobs/gb")
        assert page.status_code == 200 and "<polyline" in page.text and "validation:accuracy" in page.text
        assert "Fitted in" in page.text  # the job's own log lines
        assert "gb" in http.get("/ui/jobs").text
        tune = http.get("/ui/tuning/tu")
        assert tune.status_code == 200 and "best so far" in tune.text and "tu-000" in tune.text
        assert "tu" in http.get("/ui/tuning").text
        assert http.get("/ui/models").status_code == 200 and http.get("/ui/endpoints").status_code == 200


def test_lineage_graph_links_every_box() -> None:
    from slipway.web.charts import lineage_graph, sail_logo

    svg = str(lineage_graph([[("cancer:1", "dataset · train", "/ui/datasets/cancer:1"),
                              ("extra:2", "dataset · validation", "/ui/datasets/extra:2")],
                             [("cancer-lr", "training job", "/ui/jobs/cancer-lr")],
                             [("cancer:1", "model version", "/ui/models/cancer?version=1")]]))
    assert svg.count("<a href=") == 4 and svg.count("<line") == 3  # two datasets -> job -> model
    assert "No lineage recorded" in str(lineage_graph([]))
    assert str(sail_logo()).startswith("<svg")


def test_dashboard_errors_are_pages_with_the_api_message(sqlite_server: SlipwayServer) -> None:
    with sqlite_server.http() as http:
        bad = http.post("/ui/endpoints/nope/update", data={"model": "m:1", "weight": "heavy"})
        assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]
        assert "Field &#39;weight&#39; has value &#39;heavy&#39;. Expected a number." in bad.text
        zero = http.post("/ui/endpoints", data={"endpoint": "e", "model": "m:1", "replicas": "0"})
        assert zero.status_code == 400 and "field &#39;replicas&#39; has value 0" in zero.text
        missing = http.post("/ui/endpoints/nope/rollback")
        api = http.post("/api/v1/endpoints/nope/rollback").json()["error"]["message"]
        assert missing.status_code == 404 and api.replace("'", "&#39;") in missing.text
        assert http.get("/ui/nothing-here").status_code == 404
        assert http.get("/ui/models/x?version=abc").status_code == 400
