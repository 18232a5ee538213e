"""A merchant's click-paths in a real browser (headless Chromium driven by Playwright), against
`segflow serve`'s application on a real port and the test's real database. Every step checks
the database afterwards, not only the page.

Needs Debian's `chromium` (Playwright's own browser download cannot work offline here): `.ci/run`
installs it when missing; without it these tests are skipped, saying so. With
SEGFLOW_SCREENSHOTS=docs they refresh the screenshots in docs/ that the README shows.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from db.customers import CustomerFields, upsert
from segflow.services import flows as flow_service
from segflow.services import klaviyo
from tests.fakes.klaviyo import Group
from tests.support.klaviyo import KEY
from tests.support.worker_process import wait_for
from tests.web.conftest import token_for
from tests.web.test_api import deploy, vip_flow
from tests.web.test_security import members, segment_names

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SEGFLOW_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium on this machine: `apt-get install chromium` (.ci/run installs it) to run the browser tests",
)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
            ],
        )  # fmt: skip
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def screenshot(page, name: str, tmp_path: Path) -> None:
    folder = ROOT / "docs" if os.environ.get("SEGFLOW_SCREENSHOTS") == "docs" else tmp_path
    path = folder / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one


def sign_in(page, console, db, store_id: str) -> None:
    page.goto(f"{console.url}/login")
    page.fill("input[name=token]", token_for(db, store_id))
    page.click("button[type=submit]")
    page.wait_for_url(f"{console.url}/segments")
    assert page.inner_text("header .who strong") == store_id


def notice(page) -> str:
    text: str = page.inner_text("#notice")
    return text


def test_a_merchant_manages_segments(page, fake, db, shop, live_console, tmp_path, write_file):
    klaviyo.set_key(db, shop, KEY)
    upsert(db, shop, [CustomerFields(email=f"reader{i}@shop.example") for i in range(3)])
    fake.lists["L1"] = Group("Newsletter", ["Reader0@shop.example", "reader1@shop.example", "stranger@else.example"])
    sign_in(page, live_console, db, shop)

    page.fill("#create input[name=name]", "VIP")
    page.click("#create button")
    page.wait_for_url(f"{live_console.url}/segments/VIP")
    assert notice(page) == 'created segment "VIP"'
    assert segment_names(db, shop) == ["VIP"]

    page.fill("#add textarea", "ann@shop.example\nnobody@shop.example")
    page.click("#add button")
    assert notice(page) == ('ann@shop.example: added to "VIP"; nobody@shop.example: no such customer in store shop')
    assert members(db, shop, "VIP") == ["ann@shop.example"]

    csv = write_file("vip.csv", "email\nben@shop.example\nBEN@Shop.example\ncleo@shop.example\n"
                     "ghost@shop.example\nnot-an-email\nann@shop.example\n")  # fmt: skip
    page.set_input_files("#import input[type=file]", str(csv))
    page.click("#import button")
    report = notice(page).splitlines()
    assert report[0] == 'import into "VIP": 6 rows read'
    assert report[1:6] == [
        "2 added", "1 already members", "1 unknown emails (ignored)", "1 duplicates in the file", "1 invalid rows",
    ]  # fmt: skip
    assert report[6].startswith("line 6: ")
    assert members(db, shop, "VIP") == ["ann@shop.example", "ben@shop.example", "cleo@shop.example"]
    with page.expect_download() as download:
        page.click("#template")
    assert Path(download.value.path()).read_text().startswith("email")

    row = page.locator("tr.member[data-email='ben@shop.example']")
    row.hover()
    row.get_by_role("button", name="Remove ben@shop.example").click()
    assert notice(page) == 'ben@shop.example: removed from "VIP"'
    assert members(db, shop, "VIP") == ["ann@shop.example", "cleo@shop.example"]
    assert page.locator("tr.member").count() == 2
    screenshot(page, "segment", tmp_path)

    page.goto(f"{live_console.url}/segments")
    page.fill("#klaviyo input[name=name]", "Newsletter")
    page.select_option("#klaviyo select[name=kind]", "list")
    page.select_option("#klaviyo select[name=by]", "name")
    page.fill("#klaviyo input[name=external]", "Newsletter")
    page.click("#klaviyo button")
    page.wait_for_url(f"{live_console.url}/segments/Newsletter")
    assert notice(page) == 'importing Klaviyo list into "Newsletter" in the background; this page shows how it went'
    wait_for(lambda: members(db, shop, "Newsletter") == ["reader0@shop.example", "reader1@shop.example"], 20, "it")
    page.reload()
    assert page.inner_text("#mirrors") == 'Klaviyo list "Newsletter" (id L1)'
    assert page.inner_text("#sync-state").startswith("Synced ")
    # Synced daily from Klaviyo: one source, so the page offers no change by hand until auto-sync is off.
    assert "turned off: a sync would undo it" in page.inner_text("#one-source")
    assert page.locator("#add").count() == 0 and page.locator("tr.member .remove").count() == 0
    screenshot(page, "klaviyo-segment", tmp_path)
    page.click("#sync button:text('Turn daily auto-sync off')")
    assert notice(page) == 'auto-sync is off for segment "Newsletter"'
    assert page.locator("#one-source").count() == 0 and page.locator("#add").count() == 1

    deploy(db, shop, vip_flow(shop))
    page.goto(f"{live_console.url}/segments/VIP")
    page.fill("#delete input[name=confirm_name]", "VIP")
    page.click("#delete button")
    assert "used by active flow(s) vip-welcome" in notice(page)
    assert members(db, shop, "VIP") == ["ann@shop.example", "cleo@shop.example"]

    page.goto(f"{live_console.url}/segments/Newsletter")
    page.fill("#delete input[name=confirm_name]", "Newsletter")
    page.click("#delete button")
    page.wait_for_url(f"{live_console.url}/segments")
    assert notice(page) == 'deleted segment "Newsletter" (2 memberships removed)'
    assert segment_names(db, shop) == ["VIP"]
    assert [r.inner_text() for r in page.locator("#segments tbody td:first-child").all()] == ["VIP"]
    screenshot(page, "segments", tmp_path)


def test_a_merchant_reads_a_flow_and_pauses_it(page, db, shop, live_console, tmp_path):
    from segflow.services import segments

    raw = json.loads((ROOT / "examples" / "flows" / "winback-split.json").read_text())
    raw["store_id"] = shop
    deploy(db, shop, raw)
    upsert(db, shop, [CustomerFields(email="dee@shop.example")])
    segments.create(db, shop, "Early")
    segments.change_by_email(db, shop, "Early", "add", ["dee@shop.example"])
    flow_service.backfill(db, shop, "winback-split", "Early")  # a run that stays on version 1
    raw["nodes"][1]["params"] = {"percent": 15}  # a second version, for the diff
    deploy(db, shop, raw)
    segments.create(db, shop, "Lapsed")
    segments.change_by_email(db, shop, "Lapsed", "add", ["ann@shop.example", "ben@shop.example", "cleo@shop.example"])
    flow_service.backfill(db, shop, "winback-split", "Lapsed")  # three runs, for the counts
    sign_in(page, live_console, db, shop)

    page.click("text=Flows")
    assert page.inner_text("#flows tbody tr td:last-child") == "4"
    page.click("#flows a:text('winback-split')")
    page.wait_for_url(f"{live_console.url}/flows/winback-split")
    nodes = page.locator("#graph svg g.node")
    assert sorted(nodes.evaluate_all("all => all.map(n => n.dataset.node)")) == sorted(n["id"] for n in raw["nodes"])
    assert page.locator("#graph svg g.trigger text.count").text_content() == "3 entered"
    # The page counts what the list counts, names the flow, and counts each version's runs.
    assert page.inner_text("#flow-name") == raw["name"]
    assert "4 active or waiting runs across all versions" in page.inner_text("main")
    live = {v: page.inner_text(f"#versions tr[data-version='{v}'] td.live") for v in (1, 2)}
    assert live == {1: "1", 2: "3"}
    assert "discount" in page.inner_text("#diff")
    # What the browser drew: every text inside the picture, every edge ending outside the box
    # it points at, with its arrowhead.
    drawn = page.evaluate(GEOMETRY)
    assert drawn["texts"] > 10 and drawn["outside"] == [], drawn
    assert drawn["edges"] >= len(raw["nodes"]) and drawn["hidden_ends"] == [] and drawn["without_arrow"] == 0, drawn
    screenshot(page, "flow", tmp_path)
    page.goto(f"{live_console.url}/flows/winback-split?diff_from=9")
    assert page.inner_text("#diff-error") == "flow winback-split has no version 9 (its versions are 1 to 2)"
    page.goto(f"{live_console.url}/flows/winback-split")

    page.click("#controls button:text('Pause')")
    assert notice(page) == "flow winback-split is paused"
    assert page.inner_text("#status") == "paused"
    assert (
        db.execute("SELECT status FROM flows WHERE store_id = 'shop' AND id = 'winback-split'").fetchone()[0]
        == "paused"
    )
    page.click("#controls button:text('Resume')")
    assert notice(page) == "flow winback-split is active"
    assert (
        db.execute("SELECT status FROM flows WHERE store_id = 'shop' AND id = 'winback-split'").fetchone()[0]
        == "active"
    )

    page.goto(f"{live_console.url}/customers/ann@shop.example")
    assert "winback-split@2\twaiting" in page.inner_text("#runs")
    assert "backfill → winback-split@2: ab → discount → wait-paid, waiting" in page.inner_text("#timeline")


GEOMETRY = """() => {
  const svg = document.querySelector('#graph svg');
  const box = svg.viewBox.baseVal;
  const outside = [];
  const texts = svg.querySelectorAll('text');
  for (const t of texts) {
    const b = t.getBBox();
    if (b.x < box.x || b.y < box.y || b.x + b.width > box.x + box.width || b.y + b.height > box.y + box.height) {
      outside.push(t.textContent);
    }
  }
  const rects = {};
  for (const g of svg.querySelectorAll('g.node, g.trigger, g.done')) {
    rects[g.dataset.node || g.classList[0]] = g.querySelector('rect').getBBox();
  }
  const hidden_ends = [];
  let without_arrow = 0;
  const edges = svg.querySelectorAll('g.edge');
  for (const e of edges) {
    const line = e.querySelector('polyline');
    const last = line.points.getItem(line.points.numberOfItems - 1);
    const r = rects[e.dataset.to === 'done' ? 'done' : e.dataset.to];
    if (r && last.x > r.x + 0.5 && last.x < r.x + r.width - 0.5 && last.y > r.y + 0.5 && last.y < r.y + r.height - 0.5) {
      hidden_ends.push(e.dataset.to);
    }
    if (!getComputedStyle(line).markerEnd.includes('url')) without_arrow += 1;
  }
  return {texts: texts.length, outside, edges: edges.length, hidden_ends, without_arrow};
}"""


def test_a_merchant_reaches_names_with_slashes_by_clicking(page, db, shop, live_console):
    """Issue 24, item 2: links to a segment whose name reads like a route, and to a customer
    whose email holds a `/`, reach those and nothing else, and the delete form deletes that one."""
    from segflow.services import segments

    tricky, slashed = "Team/members/ann@shop.example", "a/b@shop.example"
    upsert(db, shop, [CustomerFields(email=slashed, first_name="Slash")])
    for name, email in (("Team", "ann@shop.example"), (tricky, slashed)):
        segments.create(db, shop, name)
        segments.change_by_email(db, shop, name, "add", [email])
    sign_in(page, live_console, db, shop)

    page.click(f"#segments a:text-is('{tricky}')")
    assert page.inner_text("#segment-name") == tricky
    assert page.locator("tr.member").evaluate_all("rows => rows.map(r => r.dataset.email)") == [slashed]
    page.click(f"#members a:text-is('{slashed}')")
    assert page.inner_text("main h1") == slashed and "Slash" in page.inner_text("main .sub")
    page.go_back()
    page.fill("#delete input[name=confirm_name]", tricky)
    page.click("#delete button")
    page.wait_for_url(f"{live_console.url}/segments")
    assert notice(page) == f'deleted segment "{tricky}" (1 memberships removed)'
    assert segment_names(db, shop) == ["Team"]
    assert members(db, shop, "Team") == ["ann@shop.example"]
