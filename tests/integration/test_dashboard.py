"""The dashboard in a real browser (Debian's chromium driven by Playwright) against a real service:
`service api` and `service worker` processes, the Temporal dev server, a Postgres store and
destination, the fake Stripe API.

One service serves the module. The main test goes the way a user does: sign in, create a pipeline
through the form (after the API refused a first attempt), watch every stream reach complete with
full coverage, compare the page's figures with `GET /pipelines/{id}`, pause and resume, ask for a
new run, delete. Another pipeline reads with a restricted key, so one stream fails and the page
shows the error with its hint; one with a refused key is fixed from the Edit page (a stale edit
refused with 412 first); a live pipeline shows its live call's own figures. A service of its own
loses its only worker mid-backfill: the page says "no worker" and for how long, and once a new
worker takes over the killed call ends `lost`. A pipeline over seeded subscription histories shows
MRR by month (chart and table) as worked out in plain Python from the fake's objects.
Screenshots go to `test-artifacts/`.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from tests.support.browser import artifact, chromium
from tests.support.metrics import expected_metrics
from tests.support.postgres import PostgresServer
from tests.support.stripe import fake_stripe
from tests.support.temporal import TOKEN, ServiceClient, ServiceProcess, service_processes

from stripe_sync.fake_stripe.server import FakeStripe

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KEY = "sk_test_dashboardkey5150"
RESTRICTED = "rk_test_nocharges2112"
BAD_KEY = "sk_test_notaccepted8080"
STREAMS = ["customers", "products", "prices"]
OBJECTS = {"customers": 1200, "products": 200, "prices": 400, "charges": 100}
METRICS_OBJECTS = {"*": 0, "subscriptions": 60, "customers": 40}
METRICS_MONTHS = 12
WAIT_MS = 20_000  # for anything the page shows (the backfill included)


@dataclass
class Dashboard:
    url: str
    client: ServiceClient
    fake: FakeStripe
    destination_url: str

    def pipeline(self, pipeline_id: str) -> dict[str, Any]:
        return self.client.pipeline(pipeline_id)

    def stripe(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A request to the fake Stripe API with the accepted key."""
        headers = {"Authorization": f"Bearer {KEY}"}
        response = httpx.request(method, f"{self.fake.url}{path}", headers=headers, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def create(self, name: str, key: str, streams: list[str], **source: Any) -> str:
        """A pipeline made over the API (the form has its own test), in schema ``name``."""
        config = {"api_key": key, "base_url": self.fake.url, "max_requests_per_second": 0}
        spec = {
            "name": name,
            "source": {"type": "stripe", "config": {**config, **source}},
            "destination": {
                "type": "postgres",
                "config": {"url": self.destination_url, "schema": name},
            },
            "streams": streams,
        }
        created = self.client.post("/pipelines", json=spec)
        assert created.status_code == 201, created.text
        pipeline_id: str = created.json()["id"]
        return pipeline_id


@pytest.fixture(scope="module")
def dashboard(
    postgres_server: PostgresServer, temporal_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    store_url = postgres_server.create_database("dashboard_store")
    destination_url = postgres_server.create_database("dashboard_destination")
    fake = fake_stripe(
        OBJECTS,
        api_keys=[KEY],
        restricted_keys={RESTRICTED: frozenset({"charges"})},
        connected_accounts=3,
        denied_accounts=1,
    )
    with (
        fake,
        service_processes(
            tmp_path_factory.mktemp("dashboard"),
            store_url=store_url,
            temporal_address=temporal_address,
            task_queue="dashboard-tests",
        ) as (api, _workers),
    ):
        url = api.line_with("listening").split()[1]
        client = ServiceClient(url)
        yield Dashboard(url, client, fake, destination_url)
        client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@contextlib.contextmanager
def new_tab(browser: Browser, service_url: str) -> Iterator[Page]:
    """A fresh tab (its own sessionStorage) that records every URL it requests: all must be the
    service's own, and no script may fail."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    requested: list[str] = []
    tab.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, errors
    assert all(url.startswith((service_url, "data:")) for url in requested), requested


@pytest.fixture
def page(browser: Browser, dashboard: Dashboard) -> Iterator[Page]:
    with new_tab(browser, dashboard.url) as tab:
        yield tab


def sign_in(page: Page, dashboard: Dashboard) -> None:
    page.goto(f"{dashboard.url}/")
    token = page.get_by_label("API token")
    expect(token).to_have_attribute("type", "password")
    token.fill("not-the-token")
    token.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("The service refused this token.")
    token.fill(TOKEN)
    token.press("Enter")  # the keyboard is enough
    expect(page.get_by_role("heading", name="Pipelines", level=1)).to_be_visible()


def figure(page: Page, key: str) -> str:
    return page.locator(f'[data-figure="{key}"] dd').inner_text()


def count(text: str) -> int:
    return int(text.replace(",", ""))


def page_numbers(page: Page) -> dict[str, Any]:
    """What the detail page shows: run figures and, per stream, status, coverage and counts."""
    streams = {}
    for row in page.locator("table.streams tbody tr[data-stream]").all():
        name = row.get_attribute("data-stream")
        streams[name] = {
            "status": row.locator(".badge-text").inner_text(),
            "coverage": row.locator(".bar-text").inner_text(),
            "records": count(row.locator('[data-field="record_count"]').inner_text()),
            "requests": count(row.locator('[data-field="request_count"]').inner_text()),
        }
    return {
        "records": count(figure(page, "record_count")),
        "lifetime": count(figure(page, "lifetime_records")),
        "requests": count(figure(page, "request_count")),
        "streams": streams,
    }


def api_numbers(pipeline: dict[str, Any]) -> dict[str, Any]:
    """The same figures from `GET /pipelines/{id}`, formatted the way the page writes coverage."""
    progress = pipeline["progress"]
    return {
        "records": progress["record_count"],
        "lifetime": progress["lifetime"]["record_count"],
        "requests": progress["request_count"],
        "streams": {
            name: {
                "status": entry["status"],
                "coverage": f"{math.floor(entry['coverage'] * 1000) / 10:g} %",
                "records": entry["record_count"],
                "requests": entry["request_count"],
            }
            for name, entry in progress["streams"].items()
        },
    }


def config_field(page: Page, key: str):
    """A generated config field by its key (each label ends with the key, e.g. `Url * url`)."""
    return page.get_by_label(re.compile(rf"(^|\s){key}$"))


def wait_until(condition, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.25)


def create_through_the_form(page: Page, dashboard: Dashboard, schema: str) -> str:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New pipeline").click()
    expect(page.get_by_role("heading", name="New pipeline", level=1)).to_be_visible()
    # the stream picker asks the service, which names what is missing
    expect(page.locator("#stream-problem")).to_contain_text("api_key: Field required")

    page.get_by_label(re.compile(r"^Name\b")).fill(schema)
    expect(page.get_by_label("Source type")).to_have_value("stripe")
    api_key = config_field(page, "api_key")
    expect(api_key).to_have_attribute("type", "password")
    api_key.fill(KEY)
    page.get_by_text("Optional source settings").click()
    config_field(page, "base_url").fill(dashboard.fake.url)
    config_field(page, "max_requests_per_second").fill("5")  # a backfill of a few seconds
    config_field(page, "poll_interval").fill("60")

    page.get_by_label("Destination type").select_option("postgres")
    destination = config_field(page, "url")
    expect(destination).to_have_attribute("type", "password")
    destination.fill("mysql://somewhere/else")
    page.get_by_text("Optional destination settings").click()
    config_field(page, "schema").fill(schema)

    search = page.get_by_label("Search streams")
    search.fill("customers")
    customers = page.locator("li.stream-item", has=page.get_by_label("customers", exact=True))
    expect(customers.locator(".hint-chip")).to_have_text(["time range", "live events"])
    for stream in STREAMS:
        search.fill(stream)
        page.get_by_label(stream, exact=True).check()
    expect(page.locator("#stream-status")).to_contain_text("3 picked")

    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea")]
            .filter((e) => !e.labels?.length && !e.getAttribute("aria-label"))
            .map((e) => e.id || e.name)"""
    )
    assert unlabelled == []

    create = page.get_by_role("button", name="Create pipeline")
    create.click()
    problem = page.locator("#create-problem")
    expect(problem).to_have_text(
        "The service refused the pipeline: unsupported destination URL scheme 'mysql': "
        "use sqlite:///FILE or postgresql://..."
    )
    expect(destination).to_have_attribute("aria-invalid", "true")
    expect(problem).to_be_focused()
    page.screenshot(path=artifact("dashboard-create.png"), full_page=True)

    destination.fill(dashboard.destination_url)
    create.click()
    page.wait_for_url(re.compile(r"#/pipelines/pl_\w+$"))
    return page.url.rsplit("/", 1)[-1]


def test_create_watch_pause_resume_sync_delete(page: Page, dashboard: Dashboard):
    sign_in(page, dashboard)
    pipeline_id = create_through_the_form(page, dashboard, "dash")
    expect(page.get_by_role("heading", name="dash", level=1)).to_be_visible()
    stored = dashboard.pipeline(pipeline_id)
    assert sorted(stored["streams"]) == sorted(STREAMS)
    assert stored["source"]["config"]["api_key"] == "********"

    # live progress: streams in flight (a picture of it when the page caught one), then every
    # stream complete with full coverage
    with contextlib.suppress(PlaywrightTimeout):
        page.locator("table.streams .badge-started").first.wait_for(timeout=10_000)
        page.screenshot(path=artifact("dashboard-detail-backfilling.png"), full_page=True)
    rows = page.locator("table.streams tbody tr[data-stream]")
    expect(rows).to_have_count(len(STREAMS))
    expect(rows.locator(".badge-text")).to_have_text(["complete"] * len(STREAMS), timeout=WAIT_MS)
    expect(rows.locator(".bar-text")).to_have_text(["100 %"] * len(STREAMS))
    expect(page.locator(".title-line .badge-text")).to_have_text("live")
    # the chart drew the backfill's rate (samples arrive while the page watches)
    expect(page.locator("#chart-summary")).to_contain_text(re.compile(r"peak [1-9]"))
    expect(page.locator(".chart polyline")).to_have_count(1)
    expect(page.locator("table.runs tbody tr").first).to_be_visible()
    page.screenshot(path=artifact("dashboard-detail.png"), full_page=True)

    # the page shows what the API says (retried: a live call may land between the two reads)
    def same_numbers() -> bool:
        shown = page_numbers(page)
        return shown == api_numbers(dashboard.pipeline(pipeline_id))

    wait_until(same_numbers, 15, "page matching GET /pipelines/{id}")
    assert page_numbers(page)["lifetime"] == sum(OBJECTS[s] for s in STREAMS)

    # pause and resume with the keyboard
    page.get_by_role("button", name="Pause").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".title-line .badge-text")).to_have_text("paused")
    assert dashboard.pipeline(pipeline_id)["desired_status"] == "paused"
    resume = page.get_by_role("button", name="Resume")
    resume.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".title-line .badge-text")).to_have_text("live")
    assert dashboard.pipeline(pipeline_id)["desired_status"] == "active"

    # a new run on demand
    page.get_by_role("button", name="Sync now").click()

    def backfills() -> int:
        runs = dashboard.client.get(f"/pipelines/{pipeline_id}/runs").json()["runs"]
        return sum(run["mode"] == "backfill" for run in runs)

    wait_until(lambda: backfills() == 2, 30, "a second backfill call")
    expect(page.locator("table.runs tbody td:nth-child(2)", has_text="backfill")).not_to_have_count(
        0
    )

    # the list: one row per pipeline with its figures
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Pipelines").click()
    row = page.locator(f'tr[data-pipeline="{pipeline_id}"]')
    expect(row.locator(".badge-text")).to_have_text("live")
    expect(row).to_contain_text("stripe · own account")
    expect(row).to_contain_text("postgres · schema dash")
    lifetime = dashboard.pipeline(pipeline_id)["progress"]["lifetime"]["record_count"]
    expect(row.locator("td.num").first).to_have_text(f"{lifetime:,}")
    expect(row.locator("td.errors-cell")).to_have_text("none")
    page.screenshot(path=artifact("dashboard-list.png"), full_page=True)

    # delete: confirmed, then gone from the service and the list
    row.get_by_role("link", name="dash").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").filter(has_text="was deleted")).to_have_text(
        "Pipeline dash was deleted."
    )
    assert dashboard.client.get(f"/pipelines/{pipeline_id}").status_code == 404
    expect(page.locator(f'tr[data-pipeline="{pipeline_id}"]')).to_have_count(0)

    # signing out forgets the token
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    assert page.evaluate("sessionStorage.length + localStorage.length") == 0


def test_a_stream_error_shows_with_its_hint(page: Page, dashboard: Dashboard):
    pipeline_id = dashboard.create("restricted", RESTRICTED, ["customers", "charges"])
    dashboard.client.wait_status(pipeline_id, "live")

    sign_in(page, dashboard)
    row = page.locator(f'tr[data-pipeline="{pipeline_id}"]')
    expect(row.locator("td.errors-cell")).to_contain_text("1 failed stream: charges")
    page.screenshot(path=artifact("dashboard-list-errors.png"), full_page=True)

    row.get_by_role("link", name="restricted").click()
    charges = page.locator('table.streams tr[data-stream="charges"]')
    expect(charges.locator(".badge-text")).to_have_text("failed")
    error = page.locator("table.errors tbody tr").filter(has_text="charges")
    expect(error.locator(".badge-text")).to_have_text("stream")
    expect(error.locator("td").nth(1)).to_have_text("permission_error")
    expect(error.locator("td").nth(4)).to_have_text(
        "grant the restricted key the 'rak_charge_read' permission"
    )
    expect(page.locator('table.streams tr[data-stream="customers"] .badge-text')).to_have_text(
        "complete"
    )
    page.screenshot(path=artifact("dashboard-detail-error.png"), full_page=True)


def test_a_parked_pipeline_shows_why_and_offers_resume(page: Page, dashboard: Dashboard):
    pipeline_id = dashboard.create("parked", BAD_KEY, ["products"])
    dashboard.client.wait_status(pipeline_id, "error")

    sign_in(page, dashboard)
    row = page.locator(f'tr[data-pipeline="{pipeline_id}"]')
    expect(row.locator(".badge-text")).to_have_text("error")
    expect(row.locator("td.errors-cell")).to_contain_text(
        re.compile("auth_error: .*Invalid API Key")
    )
    row.get_by_role("link", name="parked").click()
    expect(page.locator("p.reason")).to_contain_text(
        re.compile("^Parked: auth_error: .*Invalid API Key")
    )
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    error = page.locator("table.errors tbody tr").first
    expect(error.locator(".badge-text")).to_have_text("global")
    expect(error.locator("td").nth(1)).to_have_text("auth_error")
    hint = "edit the pipeline's source api_key (a Stripe secret or restricted key), then Resume"
    expect(error.locator("td").nth(4)).to_have_text(hint)
    assert "--api-key" not in page.content()
    assert BAD_KEY not in page.content()
    page.screenshot(path=artifact("dashboard-detail-parked.png"), full_page=True)

    # fixed from the Edit page: a stale version is refused first (someone renamed it meanwhile)
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit pipeline", level=1)).to_be_visible()
    api_key = config_field(page, "api_key")
    expect(api_key).to_have_attribute("type", "password")
    expect(api_key).to_have_value("")  # the stored key is never shown
    expect(api_key).to_have_attribute("placeholder", "stored; type to replace")
    expect(config_field(page, "url")).to_have_value("")
    expect(page.get_by_label(re.compile(r"^Name\b"))).to_have_value("parked")
    renamed = dashboard.client.request(
        "PATCH", f"/pipelines/{pipeline_id}", json={"name": "parked-renamed"}
    )
    assert renamed.status_code == 200
    api_key.fill(KEY)
    save = page.get_by_role("button", name="Save changes")
    save.click()
    problem = page.locator("#edit-problem")
    expect(problem).to_contain_text("Someone saved this pipeline after this page loaded")
    expect(problem).to_be_focused()
    assert dashboard.pipeline(pipeline_id)["status"] == "error"  # nothing was changed
    stale = dashboard.client.request(
        "PATCH",
        f"/pipelines/{pipeline_id}",
        json={"name": "x"},
        headers={"If-Match": f'"{renamed.json()["version"] - 1}"'},
    )
    assert stale.status_code == 412

    page.get_by_role("button", name="Reload the current version").click()
    expect(page.get_by_label(re.compile(r"^Name\b"))).to_have_value("parked-renamed")
    config_field(page, "api_key").fill("pk_test_abc")  # a publishable key: refused
    page.get_by_role("button", name="Save changes").click()
    expect(problem).to_contain_text("The service refused the change: ")
    expect(config_field(page, "api_key")).to_have_attribute("aria-invalid", "true")
    config_field(page, "api_key").fill(KEY)  # fixing the form clears its old error
    expect(problem).to_have_text("")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").filter(has_text="Saved")).to_contain_text(
        "It was parked: resumed with the new settings."
    )
    expect(page.locator(".title-line .badge-text")).to_have_text("live", timeout=30_000)
    fixed = dashboard.pipeline(pipeline_id)
    assert fixed["reason"] is None and fixed["source"]["config"]["api_key"] == "********"
    assert fixed["destination"]["config"]["schema"] == "parked"  # untouched settings kept


def test_a_platform_pipeline_shows_a_row_per_account(page: Page, dashboard: Dashboard):
    accounts = dashboard.fake.api.connected
    pipeline_id = dashboard.create("platform", KEY, ["customers", "products"], accounts="all")
    dashboard.client.wait_for(
        pipeline_id,
        lambda p: p["status"] == "live" and len(p["accounts"]) == len(accounts),
        what="every account's first backfill over",
    )

    sign_in(page, dashboard)
    page.locator(f'tr[data-pipeline="{pipeline_id}"]').get_by_role("link").first.click()
    rows = page.locator("table.streams tr.account-row")
    expect(rows).to_have_count(len(accounts))
    expected = {account: "complete" for account in accounts[:-1]} | {accounts[-1]: "failed"}
    for account, status in expected.items():
        row = page.locator(f'table.streams tr.account-row[data-account="{account}"]')
        expect(row.locator(".badge-text")).to_have_text(status)
    records = sum(
        len(dashboard.fake.api.accounts[account].streams[stream])
        for account in accounts[:-1]
        for stream in ("customers", "products")
    )
    first = page.locator(f'table.streams tr.account-row[data-account="{accounts[0]}"]')
    expect(first).to_contain_text("2/2")  # streams done of the account's two
    expect(page.locator("[data-figure=mode] dd")).to_have_text("live")
    expect(page.locator("[data-figure=lifetime_records] dd")).to_have_text(f"{records:,}")
    error = page.locator("table.errors tbody tr").filter(has_text=accounts[-1])
    expect(error.locator("td").nth(1)).to_have_text("permission_error")
    page.screenshot(path=artifact("dashboard-detail-accounts.png"), full_page=True)


def test_static_files_are_open_and_the_connector_routes_need_the_token(dashboard: Dashboard):
    index = httpx.get(f"{dashboard.url}/")
    assert index.status_code == 200
    assert "default-src 'self'" in index.headers["content-security-policy"]
    script = httpx.get(f"{dashboard.url}/assets/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert httpx.get(f"{dashboard.url}/connectors").status_code == 401

    connectors = dashboard.client.get("/connectors").json()
    stripe = next(c for c in connectors["sources"] if c["type"] == "stripe")
    assert stripe["spec"]["config"]["properties"]["api_key"]["secret"] is True
    assert {"postgres", "sqlite"} <= {c["type"] for c in connectors["destinations"]}

    refused = dashboard.client.post("/connectors/discover", json={"type": "stripe", "config": {}})
    assert refused.status_code == 400
    assert "api_key" in refused.json()["error"]["message"]
    found = dashboard.client.post(
        "/connectors/discover", json={"type": "stripe", "config": {"api_key": KEY}}
    ).json()["streams"]
    customers = next(stream for stream in found if stream["name"] == "customers")
    assert customers["supports_time_range"] is True
    assert "customer.updated" in customers["metadata"]["event_types"]
    assert all("json_schema" not in stream for stream in found)


def test_a_live_pipeline_shows_its_live_call_s_own_figures(page: Page, dashboard: Dashboard):
    pipeline_id = dashboard.create("live", KEY, ["customers"], poll_interval=0.5)
    dashboard.client.wait_status(pipeline_id, "live")
    backfilled = OBJECTS["customers"]

    sign_in(page, dashboard)
    page.locator(f'tr[data-pipeline="{pipeline_id}"]').get_by_role("link").first.click()
    expect(page.locator("[data-figure=mode] dd")).to_have_text("live")
    expect(page.locator("[data-figure=record_count] dt")).to_have_text("Records this live call")
    expect(page.locator("[data-figure=lifetime_records] dd")).to_have_text(f"{backfilled:,}")

    customers = dashboard.stripe("GET", "/v1/customers?limit=3")["data"]
    for number, customer in enumerate(customers):
        dashboard.stripe("POST", f"/v1/customers/{customer['id']}", data={"name": f"Live {number}"})
    expect(page.locator("[data-figure=lifetime_records] dd")).to_have_text(
        f"{backfilled + len(customers):,}", timeout=WAIT_MS
    )
    # every live call counts its own records: never the backfill's
    shown = count(figure(page, "record_count"))
    assert shown <= len(customers), shown
    assert float(figure(page, "records_per_second")) < 100

    def live_records() -> list[int]:
        runs = dashboard.client.get(f"/pipelines/{pipeline_id}/runs").json()["runs"]
        return [run["record_count"] for run in runs if run["mode"] == "live" and "reason" in run]

    wait_until(lambda: sum(live_records()) >= len(customers), 30, "the changes in ended calls")
    assert max(live_records()) <= len(customers)  # each call its own records
    live_row = page.locator('table.runs tbody tr:has(td:nth-child(2):text-is("live"))')
    expect(live_row.first).to_be_visible()
    page.screenshot(path=artifact("dashboard-detail-live.png"), full_page=True)


def test_no_worker_is_shown_and_the_killed_call_ends_lost(
    browser: Browser,
    dashboard: Dashboard,
    temporal_address: str,
    postgres_server: PostgresServer,
    tmp_path: Any,
):
    """A service of its own (its own task queue), so killing its only worker leaves the others'
    pipelines alone."""
    store_url = postgres_server.create_database("dashboard_lonely_store")
    queue = "dashboard-no-worker"
    with (
        service_processes(
            tmp_path, store_url=store_url, temporal_address=temporal_address, task_queue=queue
        ) as (api, workers),
        contextlib.ExitStack() as stack,
    ):
        url = api.line_with("listening").split()[1]
        client = ServiceClient(url)
        stack.callback(client.close)
        lonely = Dashboard(url, client, dashboard.fake, dashboard.destination_url)
        pipeline_id = lonely.create("lonely", KEY, STREAMS, max_requests_per_second=3)

        def running_backfill() -> bool:
            runs = client.get(f"/pipelines/{pipeline_id}/runs").json()["runs"]
            progress = client.pipeline(pipeline_id)["progress"] or {}
            open_call = any(run["mode"] == "backfill" and "ended_at" not in run for run in runs)
            return open_call and progress.get("record_count", 0) > 0

        wait_until(running_backfill, 30, "a backfill call in flight")
        workers[0].kill()

        page = stack.enter_context(new_tab(browser, url))
        sign_in(page, lonely)
        row = page.locator(f'tr[data-pipeline="{pipeline_id}"]')
        expect(row.locator(".badge-text")).to_have_text("no worker", timeout=WAIT_MS)
        expect(row.locator("td.errors-cell")).to_contain_text("no worker has answered for")
        expect(row.locator("td.num").nth(1)).to_have_text("\u2013")  # no rate: nothing runs
        row.get_by_role("link").first.click()
        expect(page.locator(".title-line .badge-text")).to_have_text("no worker")
        notice = page.locator("p.no-worker")
        expect(notice).to_contain_text(re.compile(r"^No worker has answered for \d+s"))
        expect(page.locator("[data-figure=window_records_per_second] dd")).to_have_text("0")
        expect(page.locator("table.runs tbody tr").first).to_contain_text("stalled: no worker")
        stalled = client.pipeline(pipeline_id)
        assert stalled["status"] == "no_worker" and stalled["no_worker_since"] is not None
        page.screenshot(path=artifact("dashboard-detail-no-worker.png"), full_page=True)

        common = ["--store", store_url, "--temporal-address", temporal_address]
        common += ["--store-key-file", str(tmp_path / "store.key")]  # service_processes' key
        replacement = ServiceProcess(
            ["worker", *common, "--task-queue", queue, "--live-time-limit", "3"],
            tmp_path / "replacement.log",
            "polling task queue",
        )
        try:
            lost = page.locator('table.runs tbody tr[data-outcome="lost"]')
            expect(lost).to_have_count(1, timeout=60_000)
            expect(lost).to_contain_text("lost (its worker stopped; retried)")
            expect(notice).to_be_hidden()
            expect(page.locator(".title-line .badge-text")).to_have_text("live", timeout=60_000)
            runs = client.get(f"/pipelines/{pipeline_id}/runs?limit=500").json()["runs"]
            assert all("ended_at" in run for run in runs if run["mode"] == "backfill")
            assert [run.get("reason") for run in runs].count("lost") == 1
        finally:
            replacement.stop()


def test_the_metrics_show_mrr_by_month_as_worked_out_from_the_fake(
    page: Page, dashboard: Dashboard
):
    histories = FakeStripe(
        seed=5, objects=METRICS_OBJECTS, subscription_histories=True, api_keys=[KEY]
    )
    with histories:
        streams = ["subscriptions", "subscription_items"]
        pipeline_id = dashboard.create("metrics", KEY, streams, base_url=histories.url)
        dashboard.client.wait_status(pipeline_id, "live")
        answer = dashboard.client.get(f"/pipelines/{pipeline_id}/metrics?months={METRICS_MONTHS}")
        expected = expected_metrics(histories, int(time.time()), METRICS_MONTHS)
        assert answer.status_code == 200, answer.text
        assert answer.json()["metrics"] == expected
        assert any(row["churn"] for row in expected) and any(row["new"] for row in expected)
        refused = dashboard.client.get(f"/pipelines/{pipeline_id}/metrics?months=0")
        assert refused.status_code == 400 and "months" in refused.json()["error"]["message"]

        sign_in(page, dashboard)
        page.locator(f'tr[data-pipeline="{pipeline_id}"]').get_by_role("link").first.click()
        rows = page.locator("table.metrics tbody tr")
        expect(rows).to_have_count(len(expected))
        for row, want in zip(rows.all(), expected, strict=True):
            assert row.get_attribute("data-month") == want["month"]
            assert row.get_attribute("data-currency") == want["currency"]
            for field in ("mrr", "new", "expansion", "contraction", "churn", "reactivation"):
                cell = row.locator(f'td[data-field="{field}"]')
                assert cell.get_attribute("data-value") == str(want[field]), field
                major = f"{want[field] / 100:,.2f} {want['currency'].upper()}"
                assert cell.inner_text() == major, field
            subscribers = row.locator('td[data-field="subscribers"]').inner_text()
            assert count(subscribers) == want["subscribers"]
        for currency in ("eur", "usd"):
            chart = page.locator(f'figure[data-currency="{currency}"]')
            bars = chart.locator("rect.bar-mrr")
            wanted = [row for row in expected if row["currency"] == currency]
            expect(bars).to_have_count(len(wanted))
            drawn = [
                (bar.get_attribute("data-month"), bar.get_attribute("data-mrr"))
                for bar in bars.all()
            ]
            assert drawn == [(row["month"], str(row["mrr"])) for row in wanted]
            heights = [float(bar.get_attribute("height") or 0) for bar in bars.all()]
            peak = max(row["mrr"] for row in wanted)
            tallest = heights[[row["mrr"] for row in wanted].index(peak)]
            assert tallest == max(heights) > 0
            expect(chart.locator(".chart-summary")).to_contain_text(
                f"now {wanted[-1]['mrr'] / 100:,.2f} {currency.upper()}"
            )
        page.screenshot(path=artifact("dashboard-detail-metrics.png"), full_page=True)
        deleted = dashboard.client.request("DELETE", f"/pipelines/{pipeline_id}")
        assert deleted.status_code == 202
