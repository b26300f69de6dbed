"""A real browser on what people read: Debian's Chromium, driven through the `playwright` package (pointed at
/usr/bin/chromium; it never downloads a browser). On a two-model grid: clicking a column header sorts the
leaderboard's rows, typing into a filter hides rows, the `#sort=` address reproduces the view in a fresh page,
and the report's headline is on screen, uncut, at 1280 px. `make test` installs chromium where root and apt-get
are available; elsewhere these tests skip and the session prints one line saying so (tests/conftest.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import api
from harness.models.mock import mock_spec
from tests.test_report_views import TASK, _expected, _second_mock

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the venv pins it
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not found (Debian: apt-get install -y chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="playwright not installed (make install)"),
]

ROWS_JS = """() => Array.from(document.querySelectorAll('#board tbody tr')).map(tr => [
  tr.querySelector('td[data-key="model"]').dataset.v + '/' + tr.querySelector('td[data-key="subset"]').dataset.v,
  tr.hidden])"""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser")
    api.run([mock_spec(), _second_mock()], tasks=[TASK], conditions=["none", "format", "blog"], results_dir=out,
            progress=False)
    api.aggregate(out)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert sync_playwright is not None and CHROMIUM is not None
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()


def _rows(page: Any) -> list[tuple[str, bool]]:
    return [(name, hidden) for name, hidden in page.evaluate(ROWS_JS)]


def _open(page: Any, results: Path, fragment: str = "") -> None:
    page.goto((results / "leaderboard.html").as_uri() + fragment)
    page.wait_for_selector("#controls:not([hidden])")  # the script ran


def test_clicking_a_header_sorts_the_rows(page: Any, results: Path) -> None:
    _open(page, results)
    before = [n for n, _ in _rows(page)]
    assert before == ["mock/relation", "mock/sensation", "mock8/relation", "mock8/sensation"]  # model order
    down, up = _expected(results, "delta:blog", ascending=False), _expected(results, "delta:blog", ascending=True)
    assert down != up  # the two directions differ, so at least one click must reorder the rows
    header = page.locator('th[data-key="delta:blog"]')
    header.click()  # a delta column sorts best first
    assert [n for n, _ in _rows(page)] == down
    assert header.get_attribute("aria-sort") == "descending"
    assert "sort=delta%3Ablog&dir=desc" in page.url or "sort=delta:blog&dir=desc" in page.url
    header.click()  # the same header again: the other direction
    assert [n for n, _ in _rows(page)] == up
    assert header.get_attribute("aria-sort") == "ascending"
    page.locator('th[data-key="score:none"]').click()
    assert [n for n, _ in _rows(page)] == _expected(results, "score:none", ascending=False)
    assert header.get_attribute("aria-sort") is None  # only one column is the sort


def test_typing_a_filter_hides_rows(page: Any, results: Path) -> None:
    _open(page, results)
    model = page.locator('select[name="model"]')
    model.focus()
    page.keyboard.type("mock8")  # type-ahead in the model filter, as a user would
    assert model.input_value() == "mock8"
    rows = _rows(page)
    assert sorted(n for n, hidden in rows if not hidden) == ["mock8/relation", "mock8/sensation"]
    assert sorted(n for n, hidden in rows if hidden) == ["mock/relation", "mock/sensation"]
    assert page.locator("tbody tr:visible").count() == 2  # hidden in the rendering, not only in the DOM
    assert page.inner_text("#count") == "2 of 4 rows"
    assert "model=mock8" in page.url
    page.click("#reset")
    assert not any(hidden for _, hidden in _rows(page))


def test_the_sort_address_keeps_the_view(browser: Any, page: Any, results: Path) -> None:
    _open(page, results)
    page.locator('th[data-key="delta:blog"]').click()
    page.locator('th[data-key="delta:blog"]').click()  # ascending
    page.locator('select[name="condition"]').select_option("blog")
    view, url = _rows(page), page.url
    assert "#sort=" in url and "condition=blog" in url
    fresh = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        again = fresh.new_page()  # a link opened elsewhere: nothing but the address
        again.goto(url)
        again.wait_for_selector("#controls:not([hidden])")
        assert _rows(again) == view == [(n, False) for n in _expected(results, "delta:blog", ascending=True)]
        assert again.locator('th[data-key="delta:blog"]').get_attribute("aria-sort") == "ascending"
        assert again.locator('select[name="condition"]').input_value() == "blog"
        assert again.locator('th[data-key="score:format"]').is_hidden()  # other conditions' columns stay hidden
        again.reload()
        again.wait_for_selector("#controls:not([hidden])")
        assert _rows(again) == view
    finally:
        fresh.close()


def test_the_reports_headline_is_visible_at_1280px(page: Any, results: Path) -> None:
    page.goto((results / "report.html").as_uri())
    headline = page.locator("#headline")
    assert headline.is_visible()
    box = headline.bounding_box()
    assert box is not None and box["y"] < 800 and box["x"] >= 0 and box["x"] + box["width"] <= 1280  # above the fold
    assert "mock (harness/mock-seeded-encoder @ 1)" in page.inner_text("body")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # nothing cut, no sideways scrolling
