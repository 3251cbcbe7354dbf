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
