"""The HTML report in a real browser: headless Chromium driven by Selenium.

The page must load with no console error (a Content-Security-Policy violation is one), render
something (the screenshot's pixels vary), show exactly the numbers counted from the results, run
none of the hostile claim's markup, filter its findings table, and print.

Needs Debian's ``chromium`` and ``chromium-driver`` packages and selenium (the ``browser-test``
extra); skipped with the reason when any is missing. Set ``HCPCS_CHROMIUM`` /
``HCPCS_CHROMEDRIVER`` to use other binaries.
"""

from __future__ import annotations

import base64
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from hcpcs_rules.cli import main
from report_data import HOSTILE_ID, check_to_jsonl, expected_counts, outcomes, sample_claims

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install '.[browser-test]')"
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

CHROMIUM = os.environ.get("HCPCS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = (
    os.environ.get("HCPCS_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
)
if not (os.access(CHROMIUM, os.X_OK) and os.access(DRIVER, os.X_OK)):
    pytest.skip(
        f"no Chromium and chromedriver at {CHROMIUM} and {DRIVER} "
        "(apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

SEVERITIES = ("reject", "deny", "warn", "info")
STATUSES = ("reject", "deny", "warn", "clean", "invalid", "failed", "unreadable")
FLAGS = (
    "--headless",
    "--no-sandbox",  # as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1800",
)


@pytest.fixture(scope="module")
def page(engines, tmp_path_factory):
    """The report over the examples and generated claims, open in Chromium, and the counts."""
    folder = tmp_path_factory.mktemp("report")
    claims = sample_claims(300)
    results = check_to_jsonl(claims, folder)
    report = folder / "report.html"
    assert main(["report", str(results), "-o", str(report), "--max-findings", "500"]) == 0
    expected = expected_counts(outcomes(engines("python", ("core", "j7632")), claims))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={folder / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    try:
        driver.get(report.as_uri())
        yield driver, expected
    finally:
        driver.quit()


def _count(element) -> int:
    return int(element.get_attribute("data-count"))


def test_the_page_loads_without_console_errors_or_running_claim_markup(page):
    driver, _ = page
    assert driver.title == "Claim check report"
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    assert driver.execute_script("return window.__pwned === undefined") is True
    # The hostile id is shown as text, whole, where a claim id goes.
    ids = driver.execute_script(
        'return Array.from(document.querySelectorAll("#findings-table td.id"), (c) => c.innerText)'
    )
    assert HOSTILE_ID in ids
    assert driver.find_elements(By.TAG_NAME, "img") == []


def _pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB(A) rows of an 8-bit PNG (what Chromium writes): chunks, inflate,
    then undo each row's filter."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = row[i - bpp] if i >= bpp else 0
            up = previous[i]
            if kind == 1:
                row[i] = (row[i] + left) & 255
            elif kind == 2:
                row[i] = (row[i] + up) & 255
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 255
            elif kind == 4:
                corner = previous[i - bpp] if i >= bpp else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[i] = (row[i] + guess) & 255
        rows.append(bytes(row))
        previous = row
    return width, bpp, rows


def test_a_screenshot_is_not_blank(page):
    driver, _ = page
    # A quarter-scale capture of the top of the page: small enough to decode in pure Python.
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "clip": {"x": 0, "y": 0, "width": 1280, "height": 1600, "scale": 0.25}},
    )
    width, bpp, rows = _pixels(base64.b64decode(shot["data"]))
    colours = {row[i : i + 3] for row in rows for i in range(0, width * bpp, bpp)}
    inked = sum(
        1 for row in rows for i in range(0, width * bpp, bpp) if row[i : i + 3] != b"\xff" * 3
    )
    assert len(colours) > 50  # text, tiles and bars in their colours, not one flat fill
    assert inked > 0.05 * width * len(rows)


# Everything the page shows, read in one script (one WebDriver round trip, not thousands):
# each number's data-key, data-count and rendered text, and the tables' rows by their cells.
_READ_PAGE = """
const all = (root, sel) => Array.from(root.querySelectorAll(sel));
const cells = (row) => Object.fromEntries(
  all(row, "td[data-col]").map((c) => [c.dataset.col, Number(c.dataset.count)]));
return {
  numbers: all(document, "[data-count]").map((e) => ({
    key: e.getAttribute("data-key"), count: Number(e.dataset.count), text: e.innerText,
    visible: e.getClientRects().length > 0})),
  payers: all(document, "#payers-table tbody tr[data-payer]").map((r) => ({
    payer: r.dataset.payer, overlay: r.dataset.overlay, cells: cells(r)})),
  rules: all(document, "#rules-table tbody tr[data-rule]").map((r) => ({
    rule: r.dataset.rule, cells: cells(r), example: all(r, "td.id")[1].innerText,
    badges: all(r, ".sev[data-severity]").map((b) => [b.dataset.severity, Number(b.dataset.count)])})),
  months: all(document, "#months-table tbody tr[data-month]").map((r) => ({
    month: r.dataset.month, cells: cells(r)})),
  data: JSON.parse(document.getElementById("report-data").textContent),
};
"""


def test_the_numbers_in_the_page_are_the_results(page):
    driver, expected = page
    seen = driver.execute_script(_READ_PAGE)
    # What the page shows, as text, is the number its data-count carries.
    assert len(seen["numbers"]) > 100
    for number in seen["numbers"]:
        if number["visible"] and number["text"]:
            assert int(number["text"].split()[-1].replace(",", "")) == number["count"], number
    by_key = {n["key"]: n["count"] for n in seen["numbers"] if n["key"]}
    assert by_key["totals.claims"] == expected["claims"]
    assert by_key["totals.findings"] == expected["findings"]
    assert by_key["totals.lines"] == expected["lines"]
    for status in STATUSES:
        assert by_key[f"totals.by_status.{status}"] == expected["by_status"][status], status
    for severity in SEVERITIES:
        assert by_key[f"totals.by_severity.{severity}"] == expected["by_severity"][severity]
    # Payers: each row's cells (a refused claim names no payer: an empty attribute).
    assert len(seen["payers"]) == len(expected["payers"])
    for row in seen["payers"]:
        want = expected["payers"][(row["payer"] or None, row["overlay"] or None)]
        assert row["cells"] == {
            "claims": want["claims"],
            "findings": want["findings"],
            **{s: want[s] for s in STATUSES},
        }, row
    # Rules: findings per rule and per severity; the example is the first claim that had it.
    assert seen["rules"]
    for row in seen["rules"]:
        want = expected["rules"][row["rule"]]
        assert row["cells"] == {"findings": want["findings"]}
        assert dict(row["badges"]) == {s: want[s] for s in SEVERITIES if want[s]}
        assert row["example"].startswith(expected["examples"][row["rule"]])
    # Months: the 60 calendar months up to the latest one by one (a month without claims as
    # zero), the earlier ones summed, the undated apart.
    dated = sorted(m for m in expected["months"] if m is not None)
    shown = [r["month"] for r in seen["months"] if r["month"] not in ("earlier", "undated")]
    assert len(shown) == 60 and shown[-1] == dated[-1] and shown == sorted(shown)
    assert len({(int(m[:4]) * 12 + int(m[5:])) - i for i, m in enumerate(shown)}) == 1
    zero = {"claims": 0, **dict.fromkeys(SEVERITIES, 0)}
    for row in seen["months"]:
        if row["month"] == "earlier":
            parts = [expected["months"][m] for m in dated if m < shown[0]]
            want = {k: sum(p[k] for p in parts) for k in ("claims", *SEVERITIES)}
        else:
            want = expected["months"].get(None if row["month"] == "undated" else row["month"])
            want = zero if want is None else want
        assert row["cells"] == {"claims": want["claims"], **{s: want[s] for s in SEVERITIES}}
    # And the embedded JSON holds the values the page drew.
    data = seen["data"]
    assert data["totals"]["claims"] == by_key["totals.claims"]
    assert data["findings_table"]["not_shown"] == by_key["findings_table.not_shown"]
    assert data["findings_table"]["not_shown"] == expected["findings"] - 500


_VISIBLE_ROWS = """
return Array.from(document.querySelectorAll("#findings-table tbody tr"))
  .filter((r) => r.getClientRects().length > 0).length;
"""


def test_the_findings_table_filters(page):
    driver, expected = page
    listed = expected["finding_rows"][:500]
    count = driver.find_element(By.ID, "filter-count")
    assert _count(count) == len(listed) == driver.execute_script(_VISIBLE_ROWS)
    rule = listed[-1][2]
    Select(driver.find_element(By.ID, "filter-rule")).select_by_value(rule)
    want = sum(1 for row in listed if row[2] == rule)
    assert _count(count) == want == driver.execute_script(_VISIBLE_ROWS) < len(listed)
    Select(driver.find_element(By.ID, "filter-rule")).select_by_value("")
    Select(driver.find_element(By.ID, "filter-severity")).select_by_value("reject")
    assert _count(count) == sum(1 for row in listed if row[3] == "reject")
    Select(driver.find_element(By.ID, "filter-severity")).select_by_value("")
    box = driver.find_element(By.ID, "filter-text")
    box.send_keys("__pwned")  # the hostile claim's id, as text
    assert _count(count) == sum(1 for row in listed if row[0] == HOSTILE_ID) > 0
    box.clear()
    box.send_keys(" ")  # an input event: everything shows again
    assert _count(count) == len(listed) == driver.execute_script(_VISIBLE_ROWS)


def test_the_page_prints(page, tmp_path):
    driver, _ = page
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not driver.find_element(By.CSS_SELECTOR, ".controls").is_displayed()
        assert driver.find_element(By.ID, "findings-table").is_displayed()
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    pdf = base64.b64decode(
        driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})["data"]
    )
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") > 2
    Path(tmp_path / "report.pdf").write_bytes(pdf)
