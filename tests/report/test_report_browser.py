"""The report in a real headless Chromium: every chart is laid out and drawn, and the page logs no error."""
import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="chromium not installed: run scripts/install_browser.sh")


def _artifact(tmp_path: Path, name: str) -> Path:
    folder = os.environ.get("FORGEML_TEST_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder) / name
    return tmp_path / name


@pytest.mark.parametrize("which,n_charts", [("classifier_run", 6), ("regressor_run", 5)])
def test_report_renders_in_chromium(which, n_charts, request, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    model, _ = request.getfixturevalue(which)
    report = Path(model.report(str(tmp_path / "report.html")))
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            charts = page.eval_on_selector_all(
                "figure.chart > svg",
                "els => els.map(e => { const r = e.getBoundingClientRect();"
                " return {w: r.width, h: r.height, paths: e.querySelectorAll('path').length}; })")
            sections = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
            shot = _artifact(tmp_path, f"report-{which.split('_')[0]}.png")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    print(f"screenshot: {shot}")
    assert len(charts) == n_charts
    for c in charts:
        assert c["w"] > 100 and c["h"] > 50 and c["paths"] > 10, c
    assert sections == ["dataset", "leaderboard", "search", "ensemble", "features", "predictions", "pipeline"]
    assert errors == []
    assert requests == [report.as_uri()]  # the page itself, nothing else
    assert shot.stat().st_size > 10_000
