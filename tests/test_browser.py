"""Every HTML page of a run in a real browser (Debian's chromium driven by Playwright), with
the network blocked: nothing fails to load, nothing errors, no code, no personal data, data
strings are text, and the owner report fits a phone. Screenshots go to <run>/screenshots/."""

import shutil

import pytest
from support import write_config

from segment_workbench.app import runner
from segment_workbench.datasets import synthetic

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("runner")]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


def visit(browser, path, width=1280, screenshot_dir=None):
    """Open a page offline; return (text, problems, page metrics)."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.route(
        "**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:")) else route.abort()
    )
    page = context.new_page()
    problems = []
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    text = page.inner_text("body")
    metrics = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,"
        " code: document.querySelectorAll('.jp-InputArea-editor, .jp-CodeMirrorEditor').length,"
        " brokenImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length})"
    )
    if screenshot_dir is not None:
        screenshot_dir.mkdir(exist_ok=True)
        page.screenshot(path=str(screenshot_dir / f"{path.stem}-{width}.png"), full_page=True)
    context.close()
    return text, problems, metrics


def test_every_page_of_the_demo_run(browser, demo_run):
    _, result = demo_run
    emails = set(synthetic.generate(300, seed=11).attributes["email"])
    pages = sorted(result.run_dir.glob("*.html"))
    assert {p.name for p in pages} >= {"index.html", "owner_report.html", "03_segment.html", "05_cltv.html"}
    for path in pages:
        for width in (1280, 390):
            text, problems, metrics = visit(browser, path, width, result.run_dir / "screenshots")
            assert problems == [], (path.name, problems)
            assert metrics["code"] == 0 and metrics["brokenImages"] == 0, (path.name, metrics)
            assert "Traceback" not in text and "import " not in text
            assert "@example.com" not in text and not any(e in text for e in emails)
    assert len(list((result.run_dir / "screenshots").glob("*.png"))) == 2 * len(pages)


def test_owner_report_reads_on_a_phone(browser, demo_run):
    _, result = demo_run
    path = result.run_dir / "owner_report.html"
    assert path.stat().st_size < 3 * 1024 * 1024
    text, problems, metrics = visit(browser, path, 390)
    assert problems == [] and metrics["scroll"] <= metrics["client"] + 1, metrics  # no sideways scrolling
    for heading in (
        "Your customer groups",
        "Where to focus",
        "Who you are losing",
        "What your customers are worth",
        "About the data",
    ):
        assert heading in text
    assert "Not in this report" not in text  # every analysis ran


def test_data_strings_are_text_and_missing_steps_are_named(browser, tmp_path):
    csv = tmp_path / "orders.csv"
    rows = ["customer_id,order_id,order_date,quantity,unit_price,product_name,email"]
    for i in range(30):
        rows.append(
            f"c{i % 10},o{i},2025-0{1 + i % 9}-1{i % 10},1,{'999.00' if i % 3 == 0 else '5.00'},"
            f'"{HOSTILE if i % 3 == 0 else "Mug"}",person{i % 10}@secret-mail.org'
        )
    csv.write_text("\n".join(rows) + "\n")
    config = write_config(tmp_path, "hostile", kind="csv", path=str(csv))
    config.write_text(config.read_text() + "steps: [01_collect, 02_clean, 07_owner_report]\n")
    # as of its last order (2025-09-18): the config's 2025-12-31 is three median gaps later
    result = runner.run(config, overrides={"as_of": None}, reports_root=tmp_path / "reports")
    owner = result.run_dir / "owner_report.html"
    assert HOSTILE not in owner.read_text() and "&lt;script&gt;alert(1)&lt;/script&gt;" in owner.read_text()
    for path in result.run_dir.glob("*.html"):
        text, problems, _ = visit(browser, path)
        assert problems == [], (path.name, problems)  # an alert() would show up as a dialog
        assert "secret-mail.org" not in text
    text, _, _ = visit(browser, owner)
    assert f"“{HOSTILE}”" in text  # shown as text, never run
    assert text.count("Not in this report") == 5 and "03_segment" in text and "04_cohorts" in text and "05_cltv" in text
