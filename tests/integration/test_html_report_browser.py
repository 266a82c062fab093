"""The HTML report of the sample fleet as its reader sees it: opened from a file:// URL in
headless Chromium (Debian's chromium, driven by playwright, nothing fetched from outside),
it shows every rule id of its findings, and a findings table re-sorts when a column header
is clicked, then reverses on a second click."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from netaudit.audit.offline import audit_files
from netaudit.audit.report import audit_report
from netaudit.collector.reports.html_report import COLUMNS, render_html
from netaudit.collector.reports.model import Report, severity_rank
from netaudit.sandbox.sample_fleet import DEFAULT_FLEET_ROOT
from tests.conftest import require

CHROMIUM = "/usr/bin/chromium"
# The system binary is started as it is (`playwright install` is never run: it downloads);
# these switches keep it from reaching out on its own (updates, sync, field trials...).
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--metrics-recording-only",
    "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
]


@pytest.fixture(scope="module")
def report() -> Report:
    """The sample fleet's offline audit (its ARM files and kubectl dumps), as `netaudit
    audit --format html` renders it."""
    audit = audit_files(arm=DEFAULT_FLEET_ROOT / "arm", k8s=DEFAULT_FLEET_ROOT / "kube")
    assert audit.warnings == ()
    built = audit_report(audit)
    assert built.findings, "the sample fleet has findings"
    return built


@pytest.fixture(scope="module")
def html_file(report: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require("chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, html_file: Path) -> Iterator[Page]:
    context = browser.new_context(offline=True)
    opened = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    opened.on("request", lambda request: requests.append(request.url))
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(html_file.as_uri())
    yield opened
    context.close()
    assert errors == [], "the page's script failed"
    assert requests == [html_file.as_uri()], "the page loaded something besides itself"


def column(page: Page, table_id: str, name: str) -> list[str]:
    index = COLUMNS.index(name) + 1
    cells = page.locator(f"#{table_id} tbody tr td:nth-child({index})")
    return [text.strip() for text in cells.all_inner_texts()]


def busiest_cluster_table(report: Report) -> str:
    """The id of the per-cluster findings table with the most rows."""
    counts = Counter(f.cluster_id for f in report.findings)
    ids = [cluster_id for cluster_id, _ in report.clusters]
    return f"cluster-{ids.index(counts.most_common(1)[0][0])}"


def test_every_rule_id_of_the_findings_is_shown(page: Page, report: Report) -> None:
    rules = {f.rule for f in report.findings}
    assert set(column(page, "findings", "Rule")) == rules
    shown = page.locator("body").inner_text()
    for name in (name for _, name in report.clusters):
        assert page.get_by_role("heading", name=name).is_visible()
    for rule in rules:
        assert page.get_by_text(rule, exact=True).first.is_visible()
    assert f"{len(report.findings)} findings" in shown


BUSIEST_CLUSTER = "busiest cluster"
# (table, column, the order a reader expects): each table's rows start in another order.
SORTS: dict[str, tuple[str, str, Callable[[str], object]]] = {
    "all findings by rule id": ("findings", "Rule", str),
    "all findings by severity rank, not name": ("findings", "Severity", severity_rank),
    "one cluster's findings by rule id": (BUSIEST_CLUSTER, "Rule", str),
}


@pytest.mark.parametrize("sort", SORTS.values(), ids=SORTS.keys())
def test_a_click_on_a_header_sorts_by_that_column_and_a_second_reverses(
    page: Page, report: Report, sort: tuple[str, str, Callable[[str], object]]
) -> None:
    table, name, key = sort
    table_id = busiest_cluster_table(report) if table == BUSIEST_CLUSTER else table
    before = column(page, table_id, name)
    ascending = sorted(before, key=key)  # type: ignore[arg-type]
    assert before != ascending, f"{name} of {table_id} starts in order: pick another column"
    header = page.locator(f"#{table_id} thead th", has_text=name)

    header.click()
    assert column(page, table_id, name) == ascending
    assert header.get_attribute("aria-sort") == "ascending"

    header.click()
    assert column(page, table_id, name) == ascending[::-1]
    assert header.get_attribute("aria-sort") == "descending"
