"""Issue 17: the Customer Groups page in a real browser (Debian's headless Chromium, through selenium).

One real worker process (``python -m pipeline.cli worker``, as in production)
serves the page and the API against the real Kafka and Redis, with the demo's
traffic (every shipped group filled) plus a few customers and cookies who
viewed "Acme", a brand the demo never sells, so the new group's counts are
known. The tests click through the page as an admin would and write a
screenshot of each main page to ``docs/img/`` (the README shows them).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from redis import Redis
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from pipeline.demo import DEMO_SHAPE
from pipeline.profile import ProfilePolicy
from pipeline.rules import load
from pipeline.settings import Settings
from pipeline.traffic import batched, generate

from .browser import chromium, missing
from .conftest import _delete_topics
from .harness import apply, prepare, produce

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "img"
TOKEN = "page-test-token-" + "x" * 24
WAIT = 60.0
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _acme_events() -> list[dict[str, Any]]:
    """C1 and C2 viewed Acme and never ordered; C3 viewed and bought it; cookies ck-a1 and ck-a2 viewed it."""
    now = datetime.now(UTC)
    n = iter(range(1000))

    def ev(kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "event_id": f"page-{next(n)}", "occurred_at": (now - timedelta(hours=2)).isoformat(),
                **fields}

    acme = {"product_id": "ACME-1", "brand": "Acme", "category": "Gadgets", "price": "20.00"}
    events = []
    for customer, name in (("C1", "Ada"), ("C2", "Grace"), ("C3", "=HYPERLINK(\"x\")")):
        events.append(ev("signup", customer_id=customer, visitor_id=f"ck-{customer}", email=f"{customer.lower()}@example.com",
                         first_name=name, last_name="Tester", date_joined="2025-11-05", public_groups=["1"]))
        events.append(ev("view", customer_id=customer, visitor_id=f"ck-{customer}", product=acme))
    events.append(ev("order", customer_id="C3", visitor_id="ck-C3", order_id="O-ACME", total="20.00", currency="GBP",
                     lines=[{"product": acme, "quantity": 1, "unit_price": "20.00"}]))
    events += [ev("view", visitor_id=cookie, product=acme) for cookie in ("ck-a1", "ck-a2")]
    return events


@dataclass
class Page:
    """The running worker, and calls to its API for checks behind the browser's back."""

    base: str
    settings: Settings

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.base + path, method=method, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")
        except OSError as exc:
            return 0, str(exc)

    def groups(self) -> dict[str, dict[str, Any]]:
        status, body = self.api("GET", "/api/groups")
        return {g["id"]: g for g in body["groups"]} if status == 200 else {}


def _until(what: str, probe: Callable[[], T | None], timeout: float = WAIT) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module")
def page(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """A worker process with the shipped groups, the demo's traffic and the Acme events, ready to serve."""
    problem = missing()
    if problem:
        pytest.fail(problem, pytrace=False)
    test_id = f"cgpage-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    settings = base_settings.model_copy(update={
        "app_id": test_id, "topic_events": f"{test_id}.events", "topic_definitions": f"{test_id}.definitions",
        "topic_dead_letter": f"{test_id}.dead-letter", "redis_prefix": test_id,
        "data_dir": tmp_path_factory.mktemp("worker"), "web_host": "127.0.0.1", "web_port": port,
        "admin_token": TOKEN})
    definitions = load(ROOT / "rules_config", ProfilePolicy.from_settings(settings)).definitions
    records = [batch for _, batch in batched(generate(DEMO_SHAPE), max_per_record=20)]

    async def set_up() -> None:
        await prepare(settings)
        await apply(settings, definitions)
        await produce(settings, [*records, *_acme_events()], key_by_visitor=True)

    asyncio.run(asyncio.wait_for(set_up(), 120))
    log = (tmp_path_factory.mktemp("log") / "worker.log").open("ab")
    worker = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, **settings.as_env()})
    running = Page(f"http://127.0.0.1:{port}", settings)
    try:
        acme = {"rules": [["brand", "viewed", "Acme"], ["and", "orders", "equals", "0"]]}

        def acme_counted() -> bool:
            status, body = running.api("POST", "/api/groups/dry-run", acme)
            return status == 200 and (body["customers"], body["anonymous_guests"]) == (2, 2)

        _until("the worker to count the Acme viewers", acme_counted, timeout=180)
        _until("every event", lambda: running.groups().get("20", {}).get("members", 0) >= 403, timeout=120)
        yield running
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
        log.close()
        asyncio.run(_delete_topics(settings.kafka_bootstrap, test_id))
        redis = Redis.from_url(settings.redis_url)
        keys = list(redis.scan_iter(match=f"{test_id}:*", count=1000))
        for start in range(0, len(keys), 1000):
            redis.delete(*keys[start:start + 1000])
        redis.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(tmp_path / "downloads") as driver:
        yield driver


def wait(driver: WebDriver, what: str, condition: Callable[[WebDriver], T], timeout: float = WAIT) -> T:
    """Until ``condition`` is truthy; a re-rendered (stale) element just means "look again"."""
    def probe(d: WebDriver) -> T | bool:
        try:
            return condition(d)
        except StaleElementReferenceException:
            return False
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(probe)
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what}; the page says: "
                             f"{driver.find_element(By.TAG_NAME, 'main').text[:2000]}") from None


def text_of(driver: WebDriver, css: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def screenshot(driver: WebDriver, name: str) -> None:
    """The whole page (up to 2,400 px tall) into docs/img/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height, frame = driver.execute_script(
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]")
    driver.set_window_size(1280, max(900, min(2400, int(height) + int(frame))))
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(1280, 900)


def sign_in(driver: WebDriver, page: Page) -> None:
    driver.get(page.base + "/admin/")
    field = wait(driver, "the sign-in form", lambda d: d.find_element(By.ID, "token"))
    field.send_keys(TOKEN)
    driver.find_element(By.CSS_SELECTOR, "form.sign-in button[type=submit]").click()
    wait(driver, "the groups table", lambda d: len(d.find_elements(By.CSS_SELECTOR, "table.groups tbody tr")) >= 13)


def rows(driver: WebDriver) -> list[Any]:
    return driver.find_elements(By.CSS_SELECTOR, "li.rule-row")


def set_row(driver: WebDriver, index: int, field: str, operator: str, value: str, connector: str | None = None) -> None:
    """Fill rule row ``index`` (0-based) as an admin would: each choice may re-draw the rows."""
    Select(rows(driver)[index].find_element(By.CSS_SELECTOR, "select.field")).select_by_visible_text(field)
    Select(rows(driver)[index].find_element(By.CSS_SELECTOR, "select.operator")).select_by_visible_text(operator)
    if connector:
        Select(rows(driver)[index].find_element(By.CSS_SELECTOR, "select.connector")).select_by_visible_text(connector)
    box = rows(driver)[index].find_element(By.CSS_SELECTOR, "input.value")
    box.clear()
    box.send_keys(value)


def row_error(driver: WebDriver, index: int) -> str:
    found = rows(driver)[index].find_elements(By.CSS_SELECTOR, ".row-error")
    return found[0].text if found and found[0].is_displayed() else ""


@pytest.mark.timeout(420)
def test_create_a_group_preview_save_members_explain_csv_and_erase(page: Page, browser: WebDriver, tmp_path: Path) -> None:
    driver = browser
    sign_in(driver, page)
    table = driver.find_element(By.CSS_SELECTOR, "table.groups").text
    assert "Sony interest" in table and "Dinosaurs" in table and "Post" in table
    screenshot(driver, "groups")
    assert TOKEN not in driver.current_url

    # a new dynamic group with two rows, the seed's way
    driver.find_element(By.LINK_TEXT, "+ add a customer group").click()
    name = wait(driver, "the editor", lambda d: d.find_element(By.ID, "group-name"))
    group_id = driver.find_element(By.ID, "group-id").get_attribute("value")
    assert group_id == str(max(int(gid) for gid in page.groups()) + 1)  # the next number, as the CMS counts
    name.send_keys("Acme fans, no order yet")
    driver.find_element(By.ID, "group-description").send_keys("Viewed Acme and never ordered.")
    set_row(driver, 0, "brand", "viewed", "Acme")
    driver.find_element(By.XPATH, "//button[text()='Add row']").click()
    set_row(driver, 1, "orders", "equals", "0", connector="and")
    wait(driver, "the rules to check out", lambda d: "The rules are valid" in text_of(d, "p.check"))
    driver.find_element(By.ID, "preview").click()
    preview = wait(driver, "the preview count", lambda d: text_of(d, "#preview-count"))
    assert preview == "2 customers and 2 anonymous guest users", preview
    assert group_id not in page.groups()  # a preview publishes nothing
    screenshot(driver, "editor")

    driver.find_element(By.ID, "save").click()
    wait(driver, "the saved group's page", lambda d: "Saved Acme fans" in text_of(d, "#status"))
    wait(driver, "the members to arrive", lambda d: text_of(d, "#members-heading") == "Members (2)")
    wait(driver, "the guests", lambda d: "Also includes 2 anonymous guest users" in text_of(d, ".counts"))
    assert driver.current_url.endswith(f"#/groups/{group_id}")
    members = driver.find_element(By.CSS_SELECTOR, "table.members").text
    assert "C1" in members and "C2" in members and "C3" not in members and "Grace Tester" in members
    assert "brand viewed Acme" in driver.find_element(By.CSS_SELECTOR, ".rules-view").text
    screenshot(driver, "group")

    # the CSV, downloaded with the token (a plain link could not send it)
    driver.find_element(By.XPATH, "//button[text()='Download CSV']").click()
    downloaded = tmp_path / "downloads" / f"group-{group_id}-members.csv"
    _until("the CSV download", lambda: downloaded.exists() and downloaded.stat().st_size > 0, timeout=30)
    lines = list(csv.reader(io.StringIO(downloaded.read_text(encoding="utf-8"))))
    assert lines[0] == ["customer_id", "email", "first_name", "last_name", "date_joined"]
    assert sorted(line[0] for line in lines[1:]) == ["C1", "C2"]

    # why is C2 in it?
    driver.find_element(By.LINK_TEXT, "C2").click()
    why = wait(driver, "the explanation", lambda d: d.find_element(By.CSS_SELECTOR, f"details[data-group='{group_id}']"))
    assert "Why Customer C2 is in Acme fans, no order yet" in driver.find_element(By.TAG_NAME, "main").text
    assert "brand viewed 'acme' (did so once)" in why.text and "orders equals 0" in why.text, why.text
    screenshot(driver, "subject")

    # GDPR erasure, behind a confirmation that wants the ID typed
    driver.find_element(By.ID, "erase").click()
    wait(driver, "the confirmation", lambda d: d.find_element(By.ID, "erase-confirm").is_displayed())
    driver.find_element(By.ID, "erase-confirm").send_keys("C2")
    driver.find_element(By.ID, "erase-staff").send_keys("dpo-1")
    driver.find_element(By.ID, "confirm-ok").click()
    wait(driver, "the erasure to be accepted", lambda d: "Erasure of C2 requested" in text_of(d, "#status"))
    driver.get(f"{page.base}/admin/#/groups/{group_id}")
    wait(driver, "C2 to leave the group", lambda d: text_of(d, "#members-heading") == "Members (1)")
    assert page.api("GET", "/api/subjects/c:C2/explain")[0] == 404  # the profile is gone too


@pytest.mark.timeout(300)
def test_bad_input_is_shown_at_its_row_and_nothing_is_saved(page: Page, browser: WebDriver) -> None:
    driver = browser
    sign_in(driver, page)
    driver.get(page.base + "/admin/#/groups/new")
    wait(driver, "the editor", lambda d: d.find_element(By.ID, "group-name")).send_keys("Broken")
    set_row(driver, 0, "orders", "greater than", "lots")
    driver.find_element(By.XPATH, "//button[text()='Add row']").click()
    set_row(driver, 1, "datejoined", "greater than", "31/02/2025")
    # a block with a row that lacks its value
    driver.find_element(By.XPATH, "(//button[text()='Add block'])[last()]").click()
    Select(rows(driver)[2].find_element(By.CSS_SELECTOR, "select.field")).select_by_visible_text("brand")
    wait(driver, "every row's problem", lambda d: all(row_error(d, i) for i in range(3)))
    assert "expected a whole number" in row_error(driver, 0), row_error(driver, 0)
    assert "02/2025" in row_error(driver, 1) or "date" in row_error(driver, 1), row_error(driver, 1)
    assert "value is required" in row_error(driver, 2), row_error(driver, 2)
    assert rows(driver)[0].find_element(By.CSS_SELECTOR, "input.value").get_attribute("aria-invalid") == "true"
    assert "3 problems" in text_of(driver, "p.check")
    screenshot(driver, "editor-errors")

    driver.find_element(By.ID, "save").click()
    wait(driver, "the refusal", lambda d: "Nothing was saved" in text_of(d, "#status"))
    assert "expected a whole number" in row_error(driver, 0)
    assert not [g for g in page.groups().values() if g["name"] == "Broken"]
    status, body = page.api("POST", "/api/rules/check", {"rules": [["orders", "greater than", "lots"]]})
    assert status == 422 and body["details"][0]["location"] == "rule 1"  # what the page showed at row 1

    # fixed, it saves: nothing was half-saved before
    driver.find_element(By.XPATH, "//button[text()='Remove block']").click()
    rows(driver)[1].find_element(By.XPATH, ".//button[text()='Remove row']").click()
    assert len(rows(driver)) == 1
    box = rows(driver)[0].find_element(By.CSS_SELECTOR, "input.value")
    box.clear()
    box.send_keys("5")
    wait(driver, "the rules to check out", lambda d: "The rules are valid" in text_of(d, "p.check"))
    driver.find_element(By.ID, "save").click()
    wait(driver, "the saved group", lambda d: d.find_elements(By.ID, "members-heading"))
    assert [g["name"] for g in page.groups().values() if g["name"] == "Broken"] == ["Broken"]


@pytest.mark.timeout(60)
def test_the_demo_traffic_fills_every_shipped_group(page: Page) -> None:
    """What `make demo` shows: customers in every shipped group, anonymous guests where rules let them in."""
    groups = page.groups()
    shipped = load(ROOT / "rules_config", ProfilePolicy.from_settings(page.settings)).definitions
    empty = [d.name for d in shipped if groups[d.id]["members"] == 0]
    assert not empty, empty
    guests = {d.id for d in shipped if groups[d.id]["anonymous_guests"] > 0}
    assert {"10", "12", "19"} <= guests, guests  # the behaviour groups take cookies in too


@pytest.mark.timeout(300)
def test_private_group_staff_add_and_who_opted_in_to_a_public_group(page: Page, browser: WebDriver) -> None:
    driver = browser
    sign_in(driver, page)
    driver.get(page.base + "/admin/#/groups/7")
    wait(driver, "the Post group", lambda d: d.find_element(By.ID, "add-customer"))
    before = page.groups()["7"]["members"]
    driver.find_element(By.ID, "add-customer").send_keys("C1")
    driver.find_element(By.ID, "staff-id").send_keys("till-9")
    driver.find_element(By.XPATH, "//button[text()='Add to group']").click()
    wait(driver, "C1 in Post", lambda d: text_of(d, "#members-heading") == f"Members ({before + 1})", timeout=WAIT)
    assert page.api("GET", "/api/subjects/c:C1/explain?group=7")[1]["groups"][0]["matched"] is True
    screenshot(driver, "private-group")

    driver.get(page.base + "/admin/#/groups/1")
    table = wait(driver, "the Newsletter's members", lambda d: d.find_element(By.CSS_SELECTOR, "table.members"))
    assert {"opted in", "how", "recorded by"} <= {th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")}
    assert "registration" in table.text


@pytest.mark.timeout(120)
def test_saving_a_shipped_group_untouched_changes_nothing(page: Page, browser: WebDriver) -> None:
    """The editor reads every shipped rule (lists, aliases, yes for true, numbers) and writes it back as it was."""
    driver = browser
    sign_in(driver, page)
    for gid in ("11", "10", "20", "23"):
        before = page.api("GET", f"/api/groups/{gid}?count=1")[1]["definition"]
        driver.get(f"{page.base}/admin/#/groups/{gid}/edit")
        wait(driver, f"group {gid}'s rules to check out", lambda d: "The rules are valid" in text_of(d, "p.check"))
        driver.find_element(By.ID, "save").click()
        wait(driver, "the save", lambda d: "Saved" in text_of(d, "#status"))
        assert page.api("GET", f"/api/groups/{gid}?count=1")[1]["definition"] == before, gid
