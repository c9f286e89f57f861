"""The catalogue of refusals (domain/catalogue.py), and the check that it cannot drift from the code.

The drift check reads the source of the whole package (it imports only the domain, as this tier may): every
place that builds an error a SCIM or OAuth client reads must take its text from the catalogue, so a detail
the setup guide does not list fails here, naming the file and line; and every refusal the catalogue (and
so the guide) lists must be given somewhere. What only operators read is left out by code path
(``OPS_ONLY``), each with its reason (docs/adr/0014-the-setup-guide.md).
"""
from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from wiggledesk_scim.domain import access, catalogue
from wiggledesk_scim.domain.catalogue import CATALOGUE, OAUTH, SCIM, Refusal, explain
from wiggledesk_scim.domain.errors import AccessRefused, InvalidValue, NotFound, UniquenessConflict, VersionMismatch
from wiggledesk_scim.domain.scim.errors import from_domain

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "wiggledesk_scim"

# -- the refusals themselves ------------------------------------------------------------------------


def test_a_refusal_is_formatted_with_every_placeholder_and_no_other():
    """``format`` fills each placeholder and refuses a missing or an unknown value, so a typo at a raise
    site fails its tests instead of answering a half-filled text."""
    assert catalogue.NO_MEMBER.format(id="42") == "No member with id 42 in this organisation"
    with pytest.raises(ValueError, match="takes"):
        catalogue.NO_MEMBER.format()
    with pytest.raises(ValueError, match="takes"):
        catalogue.NO_MEMBER.format(id="42", organisation="Contoso")


def test_an_attribute_problem_leaves_its_attribute_to_colander():
    """colander puts the attribute's path before its message, so a problem is given without it."""
    assert catalogue.NOT_A_STRING.problem(got="3") == "must be a string, got 3"
    assert catalogue.REQUIRED.problem() == "is required"
    with pytest.raises(ValueError, match="takes"):
        catalogue.NOT_A_STRING.problem(attribute="userName", got="3")


def test_only_an_attribute_problem_has_a_problem_form():
    with pytest.raises(ValueError, match="not a problem with an attribute"):
        catalogue.FILTER_EMPTY.problem()


def test_the_kinds_of_refusal_are_told_apart():
    assert catalogue.IN_OPERATION.wrapper and not catalogue.IN_OPERATION.composite
    assert catalogue.ATTRIBUTE_PROBLEMS.composite and not catalogue.ATTRIBUTE_PROBLEMS.wrapper
    assert catalogue.TOO_LONG.attribute_problem and not catalogue.FILTER_EMPTY.attribute_problem


@pytest.mark.parametrize("refusal", CATALOGUE, ids=lambda refusal: refusal.template[:40])
def test_every_refusal_matches_its_own_text_and_is_explained_by_it(refusal):
    """A template's pattern matches any text it formats, and ``explain`` names the refusal it came from
    (or, for a wrapper or a list, what they hold)."""
    values = {name: f"<{name}>" for name in refusal.placeholders}
    if refusal.wrapper:
        values[catalogue.DETAIL] = catalogue.FILTER_EMPTY.format()
    if refusal.composite:
        values[catalogue.PROBLEMS] = "userName " + catalogue.REQUIRED.problem()
    text = refusal.format(**values)

    assert refusal.matches(text)
    expected = catalogue.FILTER_EMPTY if refusal.wrapper else catalogue.REQUIRED if refusal.composite else refusal
    assert expected in explain(text, refusal.kind)


def test_explain_looks_inside_wrappers_and_lists_of_problems():
    detail = ('Operation 2 (replace emails[type eq "work"].value): emails.0.value must be a string, got 3; '
              "userName is required")

    assert explain(detail) == (catalogue.NOT_A_STRING, catalogue.REQUIRED)
    assert explain('Operation 1 (remove members[value x]): "members[value x]": Expected an operator at position '
                   "7 of the filter, found 'x'") == (catalogue.FILTER_EXPECTED,)
    assert explain('Operation 1: op must be add, replace or remove, got "copy"') == (catalogue.NOT_AN_OPERATION,)


def test_explain_accounts_for_nothing_the_catalogue_does_not_hold():
    assert explain("Something went wrong") == ()
    assert explain("Operation 1 (add x): Something went wrong") == ()
    assert explain("userName is required; Something went wrong") == ()
    assert explain(catalogue.NO_TOKEN.template, OAUTH) == ()


def test_a_value_holding_the_separator_is_still_explained():
    """A list of problems is split at "; ", but a value may hold one: the whole is then tried as one."""
    assert explain('displayName must be a list, got "a; b"') == (catalogue.NOT_A_LIST,)


@pytest.mark.parametrize("refusal", CATALOGUE, ids=lambda refusal: refusal.template[:40])
def test_every_refusal_can_be_listed_in_the_guide(refusal):
    """What the guide shows of each refusal is there: a status (a wrapper keeps the wrapped one's), a code
    of its kind, placeholders that are plain words, and a fix written as a sentence."""
    assert refusal.kind in (SCIM, OAUTH)
    assert refusal.status is None if refusal.wrapper else 400 <= refusal.status < 600
    if refusal.kind == OAUTH:
        assert refusal.code and refusal.code.islower()
    else:
        assert refusal.code in (None, *SCIM_TYPES)
    assert all(name.isidentifier() for name in refusal.placeholders)
    # The keywords of the helpers that fill a refusal in (scim.errors.refuse, oauth.refused) are not values.
    assert not set(refusal.placeholders) & {"headers", "basic_challenge", "reason", "organisation_id"}
    assert refusal.fix[:1].isupper() and refusal.fix.endswith(".")


SCIM_TYPES = (catalogue.INVALID_FILTER, catalogue.INVALID_SYNTAX, catalogue.INVALID_PATH, catalogue.NO_TARGET,
              catalogue.INVALID_VALUE, catalogue.MUTABILITY, catalogue.UNIQUENESS, catalogue.TOO_MANY)


def test_no_two_refusals_of_a_kind_say_the_same():
    """One text, one entry: the guide would otherwise list a detail twice, perhaps with two fixes."""
    seen: dict[tuple[str, str], Refusal] = {}
    for refusal in CATALOGUE:
        assert (refusal.kind, refusal.template) not in seen, refusal.template
        seen[refusal.kind, refusal.template] = refusal


# -- the drift check: every client-facing detail comes from the catalogue ------------------------------

#: Code that answers operators only (the CLI, the ops console, settings read at startup) or the log, never
#: a SCIM or OAuth client; its texts are not the customer's guide's. A file, or (file, class or function).
#: (The name says what nearly all of it is; the one guard in it says why.)
OPS_ONLY: dict[str | tuple[str, str], str] = {
    "domain/operations.py": "the CLI's and the ops console's look-ups",
    "domain/console.py": "the ops console's filters",
    "domain/credentials.py": "the ops console's password hash",
    "entrypoints/cli.py": "the command line",
    "entrypoints/wiring.py": "the settings, checked at startup",
    "entrypoints/ops": "the ops console",
    "adapters/federation.py": "why an assertion was refused: the log only (the client reads BAD_ASSERTION)",
    ("domain/access.py", "StoredTokenAuthority.issue_token"): "tokens are issued from the command line",
    ("domain/services.py", "onboard"): "organisations are onboarded from the command line",
    ("domain/services.py", "add_member"): "ops add members from the command line",
    ("domain/services.py", "_check_address"): "the command line's e-mail addresses (onboard, member add)",
    ("domain/services.py", "_check_storable"): "the command line's texts (onboard, member add)",
    ("domain/oauth.py", "access_token_lifetime"): "a setting, checked at startup",
    ("domain/oauth.py", "_text"): "the CLI's clients commands",
    ("domain/oauth.py", "ClientService"): "the CLI's clients commands",
    # Organisations, tokens and clients are looked up by id only from the command line; the SCIM and OAuth
    # paths read them by digest, or read rows they have just found.
    ("adapters/memory.py", "InMemoryOrganisationRepository"): "the command line's look-ups",
    ("adapters/memory.py", "InMemoryApiTokenRepository"): "the command line's look-ups",
    ("adapters/memory.py", "InMemoryOAuthClientRepository"): "the command line's look-ups",
    ("adapters/sqlalchemy/repositories.py", "SqlAlchemyOrganisationRepository"): "the command line's look-ups",
    ("adapters/sqlalchemy/repositories.py", "SqlAlchemyApiTokenRepository"): "the command line's look-ups",
    ("adapters/sqlalchemy/repositories.py", "SqlAlchemyOAuthClientRepository"): "the command line's look-ups",
    # Not an operator's either, but no client's: a guard behind a check that refuses first.
    ("domain/query.py", "Query"): "scim.filter.to_sort_attribute refuses an unsortable sortBy first",
}

#: The errors whose text a client reads, and where their constructor takes it: (position, keyword).
#: Not here: ``AssertionRefused`` (the log only), ``StoreUnavailable`` (answered with the catalogue's 503),
#: ``TokenNotIssued`` (the CLI's), and Python's own exceptions (a bare 500, or a failed startup).
CLIENT_FACING = {
    "ScimError": (1, "detail"), "NotFound": (0, "detail"), "InvalidValue": (0, "detail"),
    "VersionMismatch": (0, "detail"), "AccessRefused": (0, "detail"), "UniquenessConflict": (2, "detail"),
    "OAuthError": (1, "description"), "OAuthRefusal": (2, "description"), "InvalidComparison": (0, None),
    "colander.Invalid": (1, "msg"),
}
#: A text taken over from an error met on the way (a caught error's, or an HTTP exception's reason phrase),
#: itself built where it is checked here.
PASSED_ON = ("detail", "description", "title")
#: Modules whose raise sites may pass on a text through a local name: each of their string constants is
#: adopted by the catalogue or listed in ``NOT_DETAILS`` (``test_every_text_of_access_is_adopted``).
SWEPT = ("domain/access.py",)
#: access.py's string constants that are no detail, and why.
NOT_DETAILS = {
    "TOKEN_PREFIX": "how every API token starts",
    "CLIENT_SECRET_PREFIX": "how every client secret starts",
    "ACCESS_TOKEN_PREFIX": "how every access token starts",
    "_NO_TOKEN_DIGEST": "a digest no token has",
    "ACCESS_TOKEN_EXPIRED": "the WWW-Authenticate error_description; EXPIRED_ACCESS_TOKEN starts with it",
    "LAST_USED_PRECISION": "a heading of the CLI's and the console's token lists",
}


@dataclass(frozen=True)
class Site:
    """A place in the source that builds a client's error, and what it gives as the text."""

    file: str
    line: int
    constructor: str
    detail: ast.expr | None
    call: ast.Call | None
    scope: tuple[ast.AST, ...]

    def __str__(self) -> str:
        text = ast.unparse(self.detail) if self.detail is not None else "(default)"
        return f"{self.file}:{self.line} {self.constructor}({text})"


def _constructor(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name) and func.id in CLIENT_FACING:
        return func.id
    if isinstance(func, ast.Attribute):
        dotted = ast.unparse(func)
        if dotted in CLIENT_FACING:
            return dotted
        if func.attr in CLIENT_FACING and func.attr != "Invalid":
            return func.attr
    return None


def _argument(call: ast.Call, position: int, keyword: str | None) -> ast.expr | None:
    for each in call.keywords:
        if each.arg == keyword:
            return each.value
    return call.args[position] if len(call.args) > position else None


def _qualname(scope: tuple[ast.AST, ...]) -> list[str]:
    return [node.name for node in scope if isinstance(node, (ast.ClassDef, ast.FunctionDef))]


def _ops_only(file: str, scope: tuple[ast.AST, ...]) -> bool:
    if any(file == key or file.startswith(key + "/") for key in OPS_ONLY if isinstance(key, str)):
        return True
    names = _qualname(scope)
    dotted = [".".join(names[:n]) for n in range(1, len(names) + 1)]
    return any((file, name) in OPS_ONLY for name in dotted)


def sites_in(source: str, file: str) -> list[Site]:
    """Every construction of a client-facing error in ``source``, and every SCIM error body written out as a
    dict (``{"detail": ...}``), with the scopes around it."""
    found: list[Site] = []

    def visit(node: ast.AST, scope: tuple[ast.AST, ...]) -> None:
        if isinstance(node, ast.Call):
            constructor = _constructor(node)
            if constructor is not None:
                found.append(Site(file, node.lineno, constructor, _argument(node, *CLIENT_FACING[constructor]),
                                  node, scope))
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "detail":
                    found.append(Site(file, node.lineno, "error body", value, None, scope))
        inner = scope + (node,) if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.ExceptHandler)) else scope
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(source), ())
    return found


def _module_name(file: str) -> str:
    return "wiggledesk_scim." + file.removesuffix(".py").replace("/", ".")


class Resolver:
    """What a name at a site stands for, as far as this tier can tell: the domain's modules are imported
    (``from ..domain import catalogue as c``), the others read."""

    def __init__(self, tree: ast.Module, file: str):
        self.file = file
        self.imports: dict[str, tuple[str, str | None]] = {}
        self.constants: dict[str, ast.expr] = {}
        package = _module_name(file).split(".")[:-1]
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (alias.name, None)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.constants[target.id] = node.value

    def value(self, node: ast.expr, scope: tuple[ast.AST, ...]):
        """The runtime value ``node`` names, ``Refusal`` (the class) for any refusal that only a parameter
        annotated so, a choice between refusals or a table of them can hold; None if unknown."""
        if isinstance(node, ast.Name):
            for function in reversed([s for s in scope if isinstance(s, ast.FunctionDef)]):
                parameters = function.args.posonlyargs + function.args.args + function.args.kwonlyargs
                for parameter in parameters:
                    if parameter.arg == node.id:
                        annotated = parameter.annotation is not None and ast.unparse(parameter.annotation)
                        return Refusal if annotated and annotated.endswith("Refusal") else None
                assigned = [n.value for n in ast.walk(function) if isinstance(n, ast.Assign)
                            and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets)]
                if len(assigned) == 1:
                    return self.value(assigned[0], scope)
                if assigned:
                    return None
            return self._global(node.id)
        if isinstance(node, ast.Attribute):
            base = self.value(node.value, scope)
            return getattr(base, node.attr, None) if base is not None and base is not Refusal else None
        if isinstance(node, ast.Subscript):
            table = self.value(node.value, scope)
            if isinstance(table, dict) and table and all(isinstance(v, Refusal) for v in table.values()):
                return Refusal
            return None
        if isinstance(node, ast.IfExp):
            both = (self.value(node.body, scope), self.value(node.orelse, scope))
            return Refusal if all(v is Refusal or isinstance(v, Refusal) for v in both) else None
        return None

    def _global(self, name: str):
        if name in self.imports:
            module, attribute = self.imports[name]
            if not module.startswith("wiggledesk_scim.domain"):
                return None
            try:
                imported = importlib.import_module(module if attribute is None else f"{module}.{attribute}")
                return imported
            except ImportError:
                return getattr(importlib.import_module(module), attribute, None)
        if name in self.constants:
            if _module_name(self.file).startswith("wiggledesk_scim.domain"):
                return getattr(importlib.import_module(_module_name(self.file)), name, None)
            constant = self.constants[name]
            return constant.value if isinstance(constant, ast.Constant) else None
        return None


def _is_refusal(value) -> bool:
    return value is Refusal or isinstance(value, Refusal)


def _adopted(value) -> bool:
    """A named text the catalogue accounts for (an adopted constant, or one filled in from a refusal)."""
    return isinstance(value, str) and bool(explain(value, SCIM) or explain(value, OAUTH))


def problem(site: Site, resolver: Resolver) -> str | None:
    """Why the site's text is not the catalogue's, or None if it is."""
    detail, scope = site.detail, site.scope
    if detail is None:
        return None if site.constructor == "UniquenessConflict" else "no text given"
    if isinstance(detail, ast.Attribute) and detail.attr in PASSED_ON:
        return None
    if (isinstance(detail, ast.Call) and isinstance(detail.func, ast.Name) and detail.func.id == "str"
            and len(detail.args) == 1 and isinstance(detail.args[0], ast.Name)
            and any(isinstance(s, ast.ExceptHandler) and s.name == detail.args[0].id for s in scope)):
        return None  # a caught error's own text
    if isinstance(detail, ast.Call) and isinstance(detail.func, ast.Attribute) and detail.func.attr in (
            "format", "problem"):
        target = resolver.value(detail.func.value, scope)
        if _is_refusal(target) or (detail.func.attr == "format" and _adopted(target)):
            return None
        return f"{ast.unparse(detail.func.value)} is not a refusal of the catalogue"
    if isinstance(detail, ast.Name):
        assigned = _local_assignment(detail.id, scope)
        if assigned is not None:
            return problem(Site(site.file, site.line, site.constructor, assigned, site.call, scope), resolver)
    if isinstance(detail, (ast.Name, ast.Attribute)):
        value = resolver.value(detail, scope)
        if _adopted(value):
            return None
        if isinstance(detail, ast.Name) and site.file in SWEPT:
            return None  # a local name in a module whose every text is swept
        return f"{ast.unparse(detail)} is no text the catalogue holds"
    return "the text is written at the site instead of taken from the catalogue"


def _local_assignment(name: str, scope: tuple[ast.AST, ...]) -> ast.expr | None:
    """The one expression a local name of the innermost function is assigned, if it is assigned once."""
    function = next((s for s in reversed(scope) if isinstance(s, ast.FunctionDef)), None)
    if function is None:
        return None
    assigned = [n.value for n in ast.walk(function) if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)]
    return assigned[0] if len(assigned) == 1 else None


def _sources() -> list[tuple[str, str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert files
    return [(path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8")) for path in files]


def drift(sources: list[tuple[str, str]]) -> list[str]:
    """Every client-facing site whose text is not the catalogue's, as ``file:line constructor(text): why``."""
    found = []
    for file, source in sources:
        resolver = Resolver(ast.parse(source), file)
        for site in sites_in(source, file):
            if _ops_only(file, site.scope):
                continue
            why = problem(site, resolver)
            if why is not None:
                found.append(f"{site}: {why}")
    return found


def test_every_detail_a_client_can_read_is_taken_from_the_catalogue():
    """No SCIM or OAuth refusal is worded at its raise site: each takes its text from domain/catalogue.py
    (or a text it adopts), so the guide, rendered from the catalogue, lists every detail the service can
    answer with. Add a new detail to the catalogue, with its status, code and fix."""
    assert drift(_sources()) == []


@pytest.mark.parametrize("source", [
    'raise ScimError(400, "Nope", INVALID_VALUE)',
    'raise ScimError(400, f"{name} is wrong", INVALID_VALUE)',
    'raise ScimError(400, "a" + b, INVALID_VALUE)',
    'raise NotFound(f"No widget {widget_id}")',
    'raise InvalidValue(detail="Bad")',
    'raise colander.Invalid(node, "must be blue")',
    'raise OAuthError("invalid_request", "Nope", 400)',
    'raise OAuthRefusal(400, "invalid_request", "Nope")',
    'raise AccessRefused(SOMETHING_NEW)',
    'raise ScimError(400, c.NOT_THERE.format(x=1))',
    'raise ScimError(400, "x".format())',
    'raise ScimError(400, helper(), INVALID_VALUE)',
    'def f(detail):\n    return ScimError(400, detail)',
    'def f(refusal: str):\n    return ScimError(400, refusal.format())',
    'def f(flag):\n    message = "a" if flag else "b"\n    raise ScimError(400, message)',
    'def f():\n    return {"schemas": [], "detail": "Nope"}',
    'raise ScimError(400)',
])
def test_the_drift_check_finds_a_detail_worded_at_its_site(source):
    """The check itself can fail: literals, f-strings, concatenations, unknown names, bare parameters and
    error bodies written out are all caught, in any client-facing constructor."""
    prelude = "from ..catalogue import *\nfrom .. import catalogue as c\n"
    assert len(drift([("domain/scim/example.py", prelude + source)])) == 1


@pytest.mark.parametrize("source", [
    "raise refuse(c.NO_MEMBER, id=1)",
    "raise NotFound(c.NO_MEMBER.format(id=1))",
    "raise colander.Invalid(node, c.NOT_A_STRING.problem(got=1))",
    "raise colander.Invalid(node, c.UNSTORABLE[reason].problem())",
    "raise ScimError(error.status, error.detail)",
    "try:\n    pass\nexcept ValueError as refused:\n    raise ScimError(400, str(refused))",
    "def f(refusal: Refusal):\n    return ScimError(refusal.status, refusal.format())",
    "def f(flag):\n    refusal = c.NOT_A_USER if flag else c.NOT_USERS\n    raise InvalidValue(refusal.format(ids=1))",
    "raise AccessRefused(access.NO_TOKEN)",
    "raise UniquenessConflict(path, value)",
])
def test_the_drift_check_lets_the_catalogue_s_texts_pass(source):
    prelude = "from .. import access\nfrom .. import catalogue as c\nfrom ..catalogue import Refusal\n"
    assert drift([("domain/scim/example.py", prelude + source)]) == []


def test_an_ops_only_scope_is_not_checked():
    source = 'def onboard():\n    raise InvalidValue(f"{what} is odd")\n'
    assert drift([("domain/services.py", source)]) == []
    assert len(drift([("domain/teams.py", source)])) == 1


def test_every_ops_only_scope_still_exists():
    """A scope left out of the check that is renamed or moved would silently stop being one: each named
    file, class or function is still there."""
    sources = dict(_sources())
    for key in OPS_ONLY:
        file, name = (key, None) if isinstance(key, str) else key
        if name is None:
            assert file in sources or any(path.startswith(file + "/") for path in sources), file
            continue
        defined = {".".join(_qualname(scope + (node,)))
                   for scope, node in _definitions(ast.parse(sources[file]))}
        assert name in defined, key


def _definitions(tree: ast.AST, scope: tuple[ast.AST, ...] = ()):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            yield scope, node
            yield from _definitions(node, scope + (node,))


def test_every_text_of_access_is_adopted_or_is_no_detail():
    """access.py words its refusals itself and passes them on through local names, so each of its string
    constants is either a refusal the catalogue adopts or one of ``NOT_DETAILS``: a new refusal there
    fails here until the catalogue (and so the guide) has it."""
    tree = ast.parse((PACKAGE / "domain" / "access.py").read_text(encoding="utf-8"))
    names = [target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets
             if isinstance(target, ast.Name) and isinstance(getattr(access, target.id, None), str)]
    adopted = {refusal.template for refusal in CATALOGUE}

    strays = [name for name in names if getattr(access, name) not in adopted and name not in NOT_DETAILS]

    assert strays == []
    assert set(NOT_DETAILS) <= set(names)


def test_every_refusal_of_the_catalogue_is_given_somewhere():
    """The other way round: the guide lists no detail the service never answers with. Each refusal is
    named outside the catalogue (``c.NO_MEMBER``), through a table of them, or, for an adopted text, by the
    constant it adopts."""
    sources = [(file, source) for file, source in _sources() if file != "domain/catalogue.py"]
    named = set()
    for _, source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                named.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                named.add(node.id)
    given = set()
    for name, value in vars(catalogue).items():
        if name in named and isinstance(value, Refusal):
            given.add(id(value))
        if name in named and isinstance(value, dict):
            given.update(id(each) for each in value.values() if isinstance(each, Refusal))
    for name, source_constant in _adoptions():
        if source_constant in named:
            given.add(id(getattr(catalogue, name)))

    assert [refusal.template for refusal in CATALOGUE if id(refusal) not in given] == []


def _adoptions() -> list[tuple[str, str]]:
    """(catalogue name, adopted constant) for each refusal whose text is another module's constant."""
    tree = ast.parse((PACKAGE / "domain" / "catalogue.py").read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and len(node.value.args) > 1:
            for each in ast.walk(node.value.args[1]):
                if isinstance(each, ast.Attribute) and isinstance(each.value, ast.Name):
                    found.append((node.targets[0].id, each.attr))
    return found


#: What ``from_domain`` makes of each domain error a raise site may build.
_DOMAIN_ERRORS = {"NotFound": NotFound("x"), "InvalidValue": InvalidValue("x"),
                  "VersionMismatch": VersionMismatch("x"), "UniquenessConflict": UniquenessConflict("a", "b")}


def test_a_domain_error_answers_with_the_status_its_refusal_declares():
    """A domain error gets its status from ``from_domain``, its text from a refusal: the two agree, so the
    guide lists each detail under the status a client really sees."""
    disagreements = []
    for file, source in _sources():
        resolver = Resolver(ast.parse(source), file)
        for site in sites_in(source, file):
            if site.constructor not in (*_DOMAIN_ERRORS, "AccessRefused") or _ops_only(file, site.scope):
                continue
            refusals = _refusals_of(site, resolver)
            if site.constructor == "AccessRefused":
                forbidden = next((k.value for k in site.call.keywords if k.arg == "forbidden"), None)
                if forbidden is not None and not isinstance(forbidden, ast.Constant):
                    continue
                expected = (from_domain(AccessRefused("x", forbidden=bool(forbidden and forbidden.value))).status,
                            None)
            else:
                answer = from_domain(_DOMAIN_ERRORS[site.constructor])
                expected = (answer.status, answer.scim_type)
            for refusal in refusals:
                if (refusal.status, refusal.code) != expected:
                    disagreements.append(f"{site}: {refusal.status} {refusal.code} declared, {expected} answered")

    assert disagreements == []


def _refusals_of(site: Site, resolver: Resolver) -> list[Refusal]:
    detail = site.detail
    if detail is None:
        return [catalogue.VALUE_TAKEN_BY_MEMBER]
    if isinstance(detail, ast.Call) and isinstance(detail.func, ast.Attribute):
        detail = detail.func.value
    value = resolver.value(detail, site.scope)
    if isinstance(value, Refusal):
        return [value]
    if isinstance(value, str):
        return [refusal for refusal in CATALOGUE if refusal.kind == SCIM and refusal.template == value]
    if isinstance(detail, ast.Subscript):
        return list(resolver.value(detail.value, site.scope).values())
    return []
