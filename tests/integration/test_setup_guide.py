"""The setup guide (issue 17): one source, served at /help/scim and kept as docs/setup-guide.md, whose error
lists come from the refusal catalogue. Its browser test is tests/integration/test_guide_browser.py.
"""
from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser

import pytest
from webtest import TestApp

from wiggledesk_scim.domain.catalogue import CATALOGUE, OAUTH
from wiggledesk_scim.entrypoints import guide
from wiggledesk_scim.entrypoints.help import HELP_PATH
from wiggledesk_scim.entrypoints.pyramid_app import main
from tests.integration.test_server import REPO

DOCS_GUIDE = REPO / "docs" / "setup-guide.md"


@pytest.fixture(scope="module")
def testapp() -> TestApp:
    return TestApp(main({}, **{"wiggledesk.storage": "memory", "wiggledesk.access_log": "off"}))


def listed(refusal) -> bool:
    """Whether the guide lists the refusal itself (a wrapper, or a bare list of problems, is described)."""
    return bool(re.sub(r"\{\w+\}", "", refusal.template).strip())


# -- one source -----------------------------------------------------------------------------------

def test_docs_setup_guide_is_what_the_source_renders_today():
    """docs/setup-guide.md cannot go stale: after changing the guide's source or the catalogue, run
    ``.venv/bin/python scripts/setup_guide.py``."""
    assert DOCS_GUIDE.read_text(encoding="utf-8") == guide.markdown_text()


def test_the_regeneration_script_says_when_the_file_is_stale(tmp_path, monkeypatch, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("setup_guide", REPO / "scripts" / "setup_guide.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(script, "GUIDE", tmp_path / "setup-guide.md")

    assert script.main(["--check"]) == 1
    assert script.main([]) == 0
    assert script.GUIDE.read_text(encoding="utf-8") == guide.markdown_text()
    assert script.main(["--check"]) == 0


@pytest.mark.parametrize("refusal", [r for r in CATALOGUE if not r.wrapper and listed(r)],
                         ids=lambda refusal: refusal.template[:40])
def test_every_refusal_is_listed_under_its_status_with_its_fix(refusal):
    """The guide lists each detail once, under the heading of its status and code, followed by its fix."""
    text = guide.markdown_text()
    heading = f"{refusal.status} {refusal.code}" if refusal.code else str(refusal.status)
    section = "## Errors from the token endpoint" if refusal.kind == OAUTH else "## What an error means"
    start = text.index(section)
    group = text.index(f"\n### {heading}\n", start)
    end = text.find("\n### ", group + 1)
    item = f"- `{refusal.template}` — "

    assert item in text[group:end if end > 0 else None]


def test_every_wrapper_is_explained():
    text = guide.markdown_text()
    for refusal in CATALOGUE:
        if refusal.wrapper:
            assert f"`{refusal.template.replace('{detail}', '…')}`" in text


def test_every_group_is_described_and_every_description_has_a_group():
    groups = {(r.kind, r.status, r.code) for r in CATALOGUE if not r.wrapper and listed(r)}
    assert groups == set(guide.GROUPS)


def test_headings_are_unique_and_their_anchors_are_githubs():
    """Each heading is ASCII and unique, so the anchors of the served page and of GitHub's rendering of
    docs/setup-guide.md are the same (lower case, punctuation dropped, spaces as hyphens)."""
    headings = [line.lstrip("#").strip() for line in guide.markdown_text().splitlines() if line.startswith("#")]
    assert all(heading.isascii() for heading in headings)
    slugs = [guide.slug(heading) for heading in headings]
    assert len(set(slugs)) == len(slugs)
    assert guide.slug("An admin's API token") == "an-admins-api-token"
    assert guide.slug("401 invalid_client") == "401-invalid_client"


def test_every_internal_link_of_the_markdown_has_its_heading():
    text = guide.markdown_text()
    anchors = {guide.slug(line.lstrip("#").strip()) for line in text.splitlines() if line.startswith("#")}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links
    assert sorted(set(links) - anchors) == []


def test_no_numbered_list_starts_again_in_the_middle():
    """Python-Markdown numbers every list from 1, so steps interrupted by a table or a paragraph would
    start again at 1 on the page (and not on GitHub): each step follows the one before it directly."""
    previous = 0
    for line in guide.markdown_text().splitlines():
        number = re.match(r"(\d+)\. ", line)
        if number:
            assert int(number.group(1)) == previous + 1, line
            previous = int(number.group(1))
        elif not line.startswith("   "):
            previous = 0


def test_the_host_is_written_only_in_code():
    """``https://<host>`` stands in the Markdown for the service's address, inside code only: the page
    replaces it there, and elsewhere it would read as an HTML tag."""
    source = guide.markdown_text()
    outside_code = re.sub(r"`[^`]*`", "", source)
    assert "<host>" in source and "<host>" not in outside_code


# -- the served page --------------------------------------------------------------------------------

class _Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links, self.sheets, self.scripts = set(), [], [], 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "a":
            self.links.append(attributes.get("href", ""))
        if tag == "link":
            self.sheets.append(attributes.get("href"))
        if tag == "script":
            self.scripts += 1


def test_the_page_is_public_and_shows_the_address_it_was_asked_at(testapp):
    """No token needed; the Tenant URL and token endpoint are this host's, and no ``<host>`` is left."""
    page = testapp.get(HELP_PATH, extra_environ={"HTTP_HOST": "scim.contoso-wiggle.example"})

    assert page.status_int == 200 and page.content_type == "text/html"
    assert "<code>http://scim.contoso-wiggle.example/scim/v2</code>" in page.text
    assert "<code>http://scim.contoso-wiggle.example/oauth2/token</code>" in page.text
    assert "&lt;host&gt;" not in page.text and "<host>" not in page.text


def test_the_page_is_the_same_whoever_asks(testapp):
    """Nothing of an organisation can be on it: a request with a token gets the very same page."""
    anonymous = testapp.get(HELP_PATH).text
    with_token = testapp.get(HELP_PATH, headers={"Authorization": "Bearer wdscim_whatever"}).text
    assert anonymous == with_token


def test_the_page_loads_only_its_own_style_sheet_and_runs_no_script(testapp):
    page = testapp.get(HELP_PATH)
    parsed = _Anchors()
    parsed.feed(page.text)

    assert parsed.sheets == [guide.STYLE_SHEET_PATH] and parsed.scripts == 0
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'self';")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert 'name="viewport"' in page.text
    sheet = testapp.get(guide.STYLE_SHEET_PATH)
    assert sheet.content_type == "text/css" and b"@media (max-width" in sheet.body
    assert not re.search(rb"url\(|@import", sheet.body)


def test_every_internal_link_of_the_page_has_its_target(testapp):
    parsed = _Anchors()
    parsed.feed(testapp.get(HELP_PATH).text)
    internal = [link[1:] for link in parsed.links if link.startswith("#")]

    assert len(internal) > 30
    assert sorted(set(internal) - parsed.ids) == []
    assert [link for link in parsed.links if not link.startswith("#")] == []


def test_every_listed_detail_is_on_the_page(testapp):
    """What the page shows of a detail reads exactly as the service writes it (placeholders aside)."""
    text = re.sub(r"</?var>", "", testapp.get(HELP_PATH).text)

    for refusal in CATALOGUE:
        if not refusal.wrapper and listed(refusal):
            assert f"<code>{escape(refusal.template, quote=False)}</code>" in text, refusal.template


def test_the_page_is_the_documentation_uri_and_only_get_reads_it(testapp):
    assert testapp.get(HELP_PATH, status=200)
    assert testapp.head(HELP_PATH, status=200)
    assert testapp.post(HELP_PATH, status=404).json["status"] == "404"


# -- the README -------------------------------------------------------------------------------------

def test_the_readme_links_the_guide_and_nothing_outside_the_repository():
    """A clone holds no ENTRA.md: the README points at docs/setup-guide.md, and every file it links is there."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")

    assert "ENTRA.md" not in readme
    assert "(docs/setup-guide.md)" in readme
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme):
        assert (REPO / target).exists(), target

