"""The setup guide (issue 17): one Markdown source, served as the HTML page at /help/scim and kept in the
repository as docs/setup-guide.md, with its list of errors rendered from the refusal catalogue.

``markdown_text()`` is the whole guide in Markdown: ``setup-guide.md`` beside this module, with its table
of contents and its errors filled in. docs/setup-guide.md is exactly that text (``scripts/setup_guide.py``
writes it, and a test compares the two). ``page(application_url)`` is the same text as an HTML page, with
``https://<host>`` replaced by the address the request came to. Headings keep to ASCII letters, digits,
spaces and a few marks, so that the anchors here and GitHub's are the same (``slug``).

What it does not do: serve anything (``entrypoints.help`` does), or know any organisation.
"""
from __future__ import annotations

import re
from functools import lru_cache
from html import escape
from importlib import resources

import markdown
from markdown.extensions.toc import TocExtension

from ...domain.catalogue import (CATALOGUE, DETAIL, INVALID_FILTER, INVALID_PATH, INVALID_SYNTAX, INVALID_VALUE,
                                 MUTABILITY, NO_TARGET, OAUTH, SCIM, UNIQUENESS, Refusal)

#: How the guide writes the service's address; the served page shows the request's own instead.
HOST = "https://<host>"
CONTENTS = "<!-- contents -->"
ERRORS = "<!-- errors -->"
STYLE_SHEET_PATH = "/help/guide.css"
TITLE = "Set up SCIM provisioning for WiggleDesk"

#: What each group of refusals means, said once above its list: (kind, status, code) -> a sentence or two.
#: A refusal of a group not named here fails the guide's tests: say what the new group means.
GROUPS: dict[tuple[str, int, str | None], str] = {
    (SCIM, 400, INVALID_SYNTAX): "The request is not well-formed JSON or SCIM. Entra, Okta and OneLogin do not "
                                 "send such requests; a client of your own may.",
    (SCIM, 400, INVALID_VALUE): "A value the request sent is missing, of the wrong kind or too long. It "
                                "usually comes from the attribute mapping, and the detail names the attribute.",
    (SCIM, 400, INVALID_FILTER): "A filter WiggleDesk cannot answer: with Entra, usually the look-up of a "
                                 "matching attribute WiggleDesk cannot search by.",
    (SCIM, 400, INVALID_PATH): "A change names an attribute WiggleDesk's schemas do not have: usually a "
                               "mapping's target attribute.",
    (SCIM, 400, NO_TARGET): "A change picks no value to change.",
    (SCIM, 400, MUTABILITY): "A change to an attribute that only WiggleDesk sets.",
    (SCIM, 401, None): "The credential was refused. During Test Connection Entra reports this as invalid "
                       "credentials; in the provisioning logs it shows the detail.",
    (SCIM, 403, None): "The credential is genuine, but API access is switched off.",
    (SCIM, 404, None): "What the request names is not in this organisation, or the address is not "
                       "WiggleDesk's SCIM service.",
    (SCIM, 405, None): "The method does not apply at this address.",
    (SCIM, 409, UNIQUENESS): "A value that must be unique in the organisation is taken already. Nothing was "
                             "changed.",
    (SCIM, 412, None): "The resource changed between being read and being written.",
    (SCIM, 413, None): "The request is too large (at the token endpoint too, as invalid_request).",
    (SCIM, 415, None): "The request body is not JSON.",
    (SCIM, 429, None): "Too many requests at once.",
    (SCIM, 500, None): "Something failed on WiggleDesk's side.",
    (SCIM, 501, None): "An operation WiggleDesk does not offer.",
    (SCIM, 503, None): "WiggleDesk cannot answer for a moment.",
    (OAUTH, 400, "invalid_request"): "The token request is not one the endpoint can read.",
    (OAUTH, 400, "unsupported_grant_type"): "A grant other than client credentials was asked for.",
    (OAUTH, 400, "invalid_scope"): "A scope other than scim was asked for.",
    (OAUTH, 400, "unauthorized_client"): "The client authenticated, but gets no token.",
    (OAUTH, 401, "invalid_client"): "The client could not be authenticated. For safety the description never "
                                    "says which part of the credential was wrong.",
    (OAUTH, 405, "invalid_request"): "The method does not apply at this address.",
    (OAUTH, 429, "temporarily_unavailable"): "Too many failed token requests for this client.",
}


def slug(text: str, separator: str = "-") -> str:
    """A heading's anchor as GitHub makes it (lower case, punctuation dropped, each space a hyphen), for
    ASCII headings; Python-Markdown's ``toc`` takes it as its ``slugify``."""
    return re.sub(r"[^a-z0-9_\- ]", "", text.lower()).replace(" ", separator)


def _code(text: str) -> str:
    """``text`` as a Markdown code span, whatever backticks it holds."""
    fence = "``" if "`" in text else "`"
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def _prose(text: str) -> str:
    """A fix as Markdown that both renderers read as plain text."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]])", r"\\\1", text)


def _heading(kind: str, status: int, code: str | None) -> str:
    return f"{status} {code}" if code else str(status)


def _groups(kind: str) -> list[tuple[tuple[str, int, str | None], list[Refusal]]]:
    """The refusals of ``kind`` that are listed, grouped by status and code: by status, and within one in
    the catalogue's order."""
    groups: dict[tuple[str, int, str | None], list[Refusal]] = {}
    for refusal in CATALOGUE:
        if refusal.kind == kind and not refusal.wrapper and _literal(refusal):
            groups.setdefault((kind, refusal.status, refusal.code), []).append(refusal)
    return sorted(groups.items(), key=lambda item: item[0][1])


def _literal(refusal: Refusal) -> bool:
    """Whether the template says anything itself (a bare list of problems is described, not listed)."""
    return bool(re.sub(r"\{\w+\}", "", refusal.template).strip())


def _listing(kind: str) -> list[str]:
    lines = ["Jump to: " + " · ".join(f"[{_heading(*key)}](#{slug(_heading(*key))})" for key, _ in _groups(kind)),
             ""]
    for key, refusals in _groups(kind):
        lines += [f"### {_heading(*key)}", "", GROUPS[key], ""]
        lines += [f"- {_code(refusal.template)} — {_prose(refusal.fix)}" for refusal in refusals]
        lines.append("")
    return lines


def errors_markdown() -> str:
    """The guide's two sections of errors, from the catalogue."""
    wrappers = [refusal for refusal in CATALOGUE if refusal.wrapper]
    lines = [
        "## What an error means",
        "",
        "When WiggleDesk refuses a request it answers with an HTTP status, for some a `scimType`, and a "
        "`detail` saying what is wrong and what to change. Entra shows the detail in the provisioning logs "
        "(open an entry to see it) and under Provision on demand; Okta and OneLogin show it in their own "
        "provisioning logs. A refused request changes nothing.",
        "",
        "Below is every detail WiggleDesk can answer with, by status, each with its fix. A word in braces, "
        "such as `{attribute}` or `{id}`, stands for what your request held: the detail you read names the "
        "actual attribute, value or id.",
        "",
        "Some details first say where the problem is, and then what it is, as one of the details below:",
        "",
    ]
    lines += [f"- {_code(refusal.template.replace('{' + DETAIL + '}', '…'))} — {_prose(refusal.fix)}"
              for refusal in wrappers]
    lines += [
        "",
        "Several problems with attributes may come in one detail, separated by semicolons, such as "
        "`userName is required; emails.0.value must be a string, got 3`: each is one of those listed under "
        f"[400 invalidValue](#{slug('400 invalidValue')}).",
        "",
    ]
    lines += _listing(SCIM)
    lines += [
        "## Errors from the token endpoint",
        "",
        "With an OAuth client, Entra first asks WiggleDesk's token endpoint for an access token. A refusal "
        "there is an OAuth error: an `error` code and an `error_description`, which Entra shows when Test "
        "Connection fails and in the provisioning logs.",
        "",
    ]
    lines += _listing(OAUTH)
    return "\n".join(lines).rstrip() + "\n"


def _source() -> str:
    return resources.files(__package__).joinpath("setup-guide.md").read_text(encoding="utf-8")


def _sections(text: str) -> list[str]:
    """The guide's top-level sections, in order (its ``##`` headings)."""
    return [line[3:].strip() for line in text.splitlines() if line.startswith("## ")]


def _body() -> str:
    """The guide without its table of contents."""
    source = _source()
    if CONTENTS not in source or ERRORS not in source:
        raise ValueError(f"setup-guide.md must hold {CONTENTS} and {ERRORS}")  # pragma: no cover - its own file
    return source.replace(ERRORS, errors_markdown().rstrip())


def markdown_text() -> str:
    """The whole guide in Markdown: docs/setup-guide.md."""
    body = _body()
    contents = "\n".join(["**Contents**", ""] + [f"- [{title}](#{slug(title)})" for title in _sections(body)])
    return body.replace(CONTENTS, contents).rstrip() + "\n"


@lru_cache(maxsize=1)
def _html_body() -> str:
    """The guide as HTML, its table of contents a ``nav``, ``https://<host>`` still in it."""
    body = _body()
    converter = markdown.Markdown(extensions=["tables", TocExtension(slugify=slug)], output_format="html")
    html = converter.convert(body)
    items = "".join(f'<li><a href="#{slug(title)}">{escape(title)}</a></li>' for title in _sections(body))
    nav = f'<nav aria-label="Contents"><h2 class="contents">Contents</h2><ol>{items}</ol></nav>'
    return _PLACEHOLDERS_IN_CODE.sub(_mark_placeholders, html.replace(CONTENTS, nav))


_PLACEHOLDERS_IN_CODE = re.compile(r"<code>(.*?)</code>", re.DOTALL)


def _mark_placeholders(code: re.Match) -> str:
    """A detail's ``{attribute}`` as ``<var>``, so it reads as what stands for a value, not as text."""
    return "<code>" + re.sub(r"\{(\w+)\}", r"<var>{\1}</var>", code.group(1)) + "</code>"


def page(application_url: str) -> str:
    """The HTML page for a request that came to ``application_url`` (scheme, host and port)."""
    body = _html_body().replace(escape(HOST), escape(application_url))
    return _PAGE.format(title=escape(TITLE), style=STYLE_SHEET_PATH, body=body)


def style_sheet() -> bytes:
    return resources.files(__package__).joinpath("guide.css").read_bytes()


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{style}">
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""
