"""The ops console in a real headless Chromium (Selenium, Debian's chromium and chromium-driver), against
``pserve`` serving a copy of development.ini, as support uses it: sign in, open an organisation from the
list, and find the activity of a member Entra has just provisioned over HTTP.

The organisation is onboarded and the password hashed by the ``wiggledesk-scim`` command, so this also
runs ``ops-password`` as an operator would. The screenshots land in test-artifacts/ops-console.png and ops-console-clients.png (the OAuth clients).
Without the browser the test is skipped, saying how to install it, unless WIGGLEDESK_REQUIRE_BROWSER=1
(CI), which makes that a failure.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration.test_server import (CLI, REPO, Server, free_port, http, ini_copy, onboard,
                                           without_database_variable)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REQUIRE_BROWSER_VARIABLE = "WIGGLEDESK_REQUIRE_BROWSER"
SCREENSHOT = REPO / "test-artifacts" / "ops-console.png"
CLIENTS_SCREENSHOT = REPO / "test-artifacts" / "ops-console-clients.png"
USERNAME = "support"
PASSWORD = "Wiggle: desk ops/2026"  # a colon, a space and a slash: each must survive the URL and Basic
WAIT_SECONDS = 20


def _browser_missing() -> str | None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[testing]')")
    return ", ".join(missing) or None


@pytest.fixture(scope="module")
def browser_ready() -> None:
    missing = _browser_missing()
    if missing is None:
        return
    reason = (f"the ops console's browser test needs {missing}; as root, `make test` installs them "
              f"(apt-get install chromium chromium-driver)")
    if os.environ.get(REQUIRE_BROWSER_VARIABLE) == "1":
        pytest.fail(f"{reason}. {REQUIRE_BROWSER_VARIABLE}=1 forbids skipping it.")
    pytest.skip(reason)


@pytest.fixture
def console(tmp_path):
    """development.ini served by pserve with ops credentials from ``ops-password``, and Contoso onboarded
    through the CLI; yields the server and Contoso's token."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = without_database_variable()
    ini = ini_copy("development.ini", tmp_path, port)
    hashed = subprocess.run([str(CLI), str(ini), "ops-password"], input=f"{PASSWORD}\n", capture_output=True,
                            text=True, timeout=120, env=env, cwd=tmp_path)
    assert hashed.returncode == 0, hashed.stderr
    (line,) = hashed.stdout.splitlines()
    assert line.startswith("ops.password_hash = scrypt$")
    text = ini.read_text()
    assert text.count("[app:main]\n") == 1
    ini.write_text(text.replace("[app:main]\n", f"[app:main]\nops.username = {USERNAME}\n{line}\n"))
    token = onboard(ini, "Contoso", "ada@contoso.example", base, env)
    # An OAuth client whose secret expires within the console's 30-day warning.
    client = subprocess.run([str(CLI), str(ini), "clients", "create", "Contoso", "--name", "Entra provisioning",
                             "--secret-expires-in", "20"], capture_output=True, text=True, timeout=120, env=env,
                            cwd=tmp_path)
    assert client.returncode == 0, client.stderr
    server = Server(ini, port, env).start()
    try:
        yield server, token
    finally:
        server.stop()


@pytest.fixture
def chromium(browser_ready, monkeypatch):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Debian's browser and driver, named outright, so Selenium Manager never tries to download either.
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_support_signs_in_opens_contoso_and_finds_the_member_just_provisioned(chromium, console):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    server, token = console
    created = http("POST", f"{server.url}/scim/v2/Users",
                   {"userName": "adele.vance@contoso.example", "externalId": "adele.vance",
                    "displayName": "Adele Vance", "active": True}, token)
    assert created.status == 201, created.body
    member_id = created.json["id"]
    wait = WebDriverWait(chromium, WAIT_SECONDS)

    # Credentials in the URL: Chromium answers the console's Basic challenge with them, and keeps
    # sending them to the same origin (the link below carries none).
    chromium.get(f"http://{quote(USERNAME, safe='')}:{quote(PASSWORD, safe='')}@127.0.0.1:{server.port}/ops/")
    link = wait.until(expected_conditions.element_to_be_clickable((By.LINK_TEXT, "Contoso")))
    assert chromium.title == "Organisations · wiggledesk-scim ops"
    link.click()

    wait.until(expected_conditions.title_is("Contoso · wiggledesk-scim ops"))
    rows = chromium.find_elements(By.CSS_SELECTOR, "table.trail tbody tr")
    found = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert [cells[1:3] for cells in found] == [["create", member_id]], found
    assert "displayName" in found[0][3] and "userName" in found[0][3]
    assert found[0][7] == "API token"
    assert token not in chromium.page_source
    # The style sheet loaded under the Content-Security-Policy: the header bar is dark, not default white.
    header = chromium.find_element(By.TAG_NAME, "header")
    assert header.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"

    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    assert chromium.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The OAuth client and its secret's warning, scrolled into view for a second screenshot.
    warning = chromium.find_element(By.CSS_SELECTOR, "table.clients tr.secret .warning")
    assert warning.text in ("expires in 19 days", "expires in 20 days")
    assert warning.value_of_css_property("color") != chromium.find_element(
        By.CSS_SELECTOR, "table.clients td").value_of_css_property("color")
    chromium.execute_script("arguments[0].scrollIntoView({block: 'center'})", warning)
    CLIENTS_SCREENSHOT.unlink(missing_ok=True)
    assert chromium.save_screenshot(str(CLIENTS_SCREENSHOT))
    # The server's access log: the organisation's page was answered, after the sign-in's first 401.
    assert "route=ops_organisation status=200" in server.log()
