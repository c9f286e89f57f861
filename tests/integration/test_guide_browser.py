"""The setup guide in a real headless Chromium, as a customer's admin opens it from Entra: against ``pserve``
serving a copy of development.ini, at desktop and at phone width, following every link inside the page.

Before opening it, real requests draw a representative set of refusals from the service (over HTTP, from
Contoso onboarded through the CLI): each detail must be one the catalogue explains, and listed on the page.
Screenshots land in test-artifacts/setup-guide-desktop.png, setup-guide-phone.png and
setup-guide-phone-errors.png. The browser fixtures are the ops console's, so is the rule on a missing
browser (skipped, unless WIGGLEDESK_REQUIRE_BROWSER=1).
"""
from __future__ import annotations

import json
import urllib.request

import pytest

from tests.integration.test_ops_browser import browser_ready, chromium  # noqa: F401 - fixtures
from tests.integration.test_server import (PATCH_OP, REPO, Server, free_port, http, ini_copy, onboard, send,
                                           without_database_variable)
from wiggledesk_scim.domain import catalogue as c
from wiggledesk_scim.domain.catalogue import OAUTH, explain
from wiggledesk_scim.entrypoints.guide import TITLE

ARTIFACTS = REPO / "test-artifacts"
DESKTOP = ARTIFACTS / "setup-guide-desktop.png"
PHONE = ARTIFACTS / "setup-guide-phone.png"
PHONE_ERRORS = ARTIFACTS / "setup-guide-phone-errors.png"
PHONE_WIDTH, PHONE_HEIGHT = 375, 812
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def served(tmp_path):
    """development.ini served by pserve, Contoso onboarded through the CLI; yields the server and its token."""
    port = free_port()
    env = without_database_variable()
    ini = ini_copy("development.ini", tmp_path, port)
    token = onboard(ini, "Contoso", "ada@contoso.example", f"http://127.0.0.1:{port}", env)
    server = Server(ini, port, env).start()
    try:
        yield server, token
    finally:
        server.stop()


def _raw(method: str, url: str, body: bytes | None, headers: dict):
    return send(urllib.request.Request(url, data=body, method=method), headers)


def refusals_drawn(base: str, token: str) -> list[tuple[str, int, str, c.Refusal]]:
    """(what was asked, status, detail, the refusal expected) for a representative set of refused requests."""
    scim = f"{base}/scim/v2"
    ada = http("GET", f"{scim}/Users?filter=userName+eq+%22ada%40contoso.example%22", token=token).json
    ada_id = ada["Resources"][0]["id"]
    team = http("POST", f"{scim}/Groups", {"displayName": "Leeds office"}, token)
    assert team.status == 201, team.body
    cases = [
        ("no credential", http("GET", f"{scim}/Users"), c.NO_TOKEN),
        ("an unknown token", http("GET", f"{scim}/Users", token="wdscim_not-a-token"), c.UNKNOWN_TOKEN),
        ("an unknown member", http("GET", f"{scim}/Users/5171a35d-8207-4e06-8ce2-0f1b2c3d4e5f", token=token),
         c.NO_MEMBER),
        ("a filter cut short", http("GET", f"{scim}/Users?filter=userName+eq", token=token), c.FILTER_ENDS_EARLY),
        ("a filter on no attribute", http("GET", f"{scim}/Users?filter=shoeSize+eq+%2242%22", token=token),
         c.FILTER_UNSUPPORTED),
        ("broken JSON", _raw("POST", f"{scim}/Users", b"{", {"Authorization": f"Bearer {token}",
                                                            "Content-Type": "application/scim+json"}),
         c.BODY_NOT_JSON),
        ("a body that is not JSON", _raw("POST", f"{scim}/Users", b"x", {"Authorization": f"Bearer {token}",
                                                                         "Content-Type": "text/plain"}),
         c.MEDIA_TYPE),
        ("a userName that is a number", http("POST", f"{scim}/Users", {"userName": 42}, token), c.NOT_A_STRING),
        ("no userName", http("POST", f"{scim}/Users", {"active": True}, token), c.REQUIRED),
        ("a taken userName", http("POST", f"{scim}/Users", {"userName": "ADA@contoso.example"}, token),
         c.VALUE_TAKEN_BY_MEMBER),
        ("a taken team name", http("POST", f"{scim}/Groups", {"displayName": "leeds OFFICE"}, token),
         c.VALUE_TAKEN_BY_TEAM),
        ("an operation that is no operation",
         http("PATCH", f"{scim}/Users/{ada_id}", {"schemas": [PATCH_OP], "Operations": [{"op": "copy"}]}, token),
         c.NOT_AN_OPERATION),
        ("a change to the id",
         http("PATCH", f"{scim}/Users/{ada_id}",
              {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "id", "value": "1"}]}, token),
         c.READ_ONLY_ATTRIBUTE),
        ("a path with an unknown operator",
         http("PATCH", f"{scim}/Users/{ada_id}",
              {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": 'emails[type zz "work"].value',
                                                      "value": "ada@fabrikam.example"}]}, token),
         c.FILTER_OPERATOR),
        ("a member who is no User",
         http("PATCH", team.header("Location"),
              {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members",
                                                      "value": [{"value": "no-such-member"}]}]}, token),
         c.NOT_A_USER),
        ("bulk", http("POST", f"{scim}/Bulk", {"Operations": []}, token), c.NOT_SUPPORTED),
        ("a write to a discovery document",
         http("PUT", f"{scim}/ServiceProviderConfig", {}, token), c.METHOD_NOT_ALLOWED),
        ("a token without Bearer", http("GET", f"{scim}/Users", headers={"Authorization": token}),
         c.MALFORMED_AUTHORIZATION),
        ("an unknown SCIM path", http("GET", f"{scim}/Widgets", token=token), c.NO_ENDPOINT),
        ("an address outside the service", http("GET", f"{base}/nowhere"), c.NOTHING_HERE),
        ("another grant", _raw("POST", f"{base}/oauth2/token", b"grant_type=password", FORM),
         c.GRANT_TYPE_UNSUPPORTED),
        ("a wrong client secret",
         _raw("POST", f"{base}/oauth2/token",
              b"grant_type=client_credentials&client_id=nobody&client_secret=wdscs_wrong", FORM),
         c.BAD_CREDENTIALS),
        ("a GET of the token endpoint", _raw("GET", f"{base}/oauth2/token", None, {}), c.POST_ONLY),
    ]
    drawn = []
    for asked, reply, expected in cases:
        body = json.loads(reply.body)
        detail = body.get("error_description") if expected.kind == OAUTH else body.get("detail")
        drawn.append((asked, reply.status, detail, expected))
    return drawn


def test_an_admin_reads_the_guide_follows_its_links_and_finds_every_error_they_meet(chromium, served):
    from selenium.webdriver.common.by import By

    server, token = served
    drawn = refusals_drawn(server.url, token)

    # Each detail really answered is one the catalogue accounts for, under the status it declares.
    for asked, status, detail, expected in drawn:
        assert expected in explain(detail, expected.kind), (asked, detail)
        assert status == expected.status, (asked, status, detail)

    chromium.get(f"{server.url}/help/scim")
    assert chromium.title == TITLE
    page_text = chromium.find_element(By.TAG_NAME, "main").get_attribute("textContent")
    # ... and the page lists it, as the service words it.
    for asked, _, detail, expected in drawn:
        assert expected.template in page_text, (asked, expected.template)
    # The page names this server's address, never <host>, and nothing of Contoso.
    assert f"{server.url}/scim/v2" in page_text and f"{server.url}/oauth2/token" in page_text
    assert "<host>" not in page_text and "Contoso" not in page_text and token not in chromium.page_source

    # The style sheet loaded under the Content-Security-Policy, and nothing else was fetched.
    nav = chromium.find_element(By.CSS_SELECTOR, 'nav[aria-label="Contents"]')
    assert nav.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
    fetched = chromium.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    # (The browser asks for /favicon.ico by itself; the page asks for its style sheet only.)
    assert set(fetched) - {f"{server.url}/favicon.ico"} == {f"{server.url}/help/guide.css"}, fetched

    ARTIFACTS.mkdir(exist_ok=True)
    for path in (DESKTOP, PHONE, PHONE_ERRORS):
        path.unlink(missing_ok=True)
    assert chromium.save_screenshot(str(DESKTOP))

    # Every link inside the page leads to its section, and scrolls it into view.
    links = chromium.execute_script(
        "return [...new Set([...document.querySelectorAll('a[href^=\"#\"]')].map(a => a.getAttribute('href')))]")
    assert len(links) > 30
    for href in links:
        landed = chromium.execute_script("""
            const link = document.querySelector(`a[href="${arguments[0]}"]`);
            link.scrollIntoView(); link.click();
            const target = document.getElementById(decodeURIComponent(arguments[0].slice(1)));
            if (!target) return null;
            const top = target.getBoundingClientRect().top;
            return [location.hash, top >= -1 && top < window.innerHeight];""", href)
        assert landed == [href, True], (href, landed)
    # And no link leads off the page.
    outside = chromium.execute_script(
        "return [...document.querySelectorAll('a')].map(a => a.getAttribute('href')).filter(h => !h.startsWith('#'))")
    assert outside == []

    # At a phone's width: one column, nothing wider than the screen, tables stacked.
    chromium.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                             {"width": PHONE_WIDTH, "height": PHONE_HEIGHT, "deviceScaleFactor": 2, "mobile": True})
    try:
        chromium.get(f"{server.url}/help/scim")
        widths = chromium.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1] == PHONE_WIDTH, widths
        cell = chromium.find_element(By.CSS_SELECTOR, "main table td")
        assert cell.value_of_css_property("display") == "block"
        assert chromium.save_screenshot(str(PHONE))
        chromium.get(f"{server.url}/help/scim#400-invalidvalue")
        assert chromium.save_screenshot(str(PHONE_ERRORS))
    finally:
        chromium.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    for path in (DESKTOP, PHONE, PHONE_ERRORS):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "route=help_scim status=200" in server.log()

