from setuptools import find_packages, setup

requires = [
    "alembic>=1.13",
    "colander>=2.0",
    "cryptography>=42",  # PyJWT's RS256 (client assertions, adapters/federation.py)
    "jinja2>=3.1",
    "markdown>=3.5",  # the setup guide (entrypoints/guide): one Markdown source, served as HTML
    "orjson>=3.9",
    "plaster_pastedeploy>=1.0",
    "psycopg[binary]>=3.1",
    "pyjwt[crypto]>=2.15",
    "pyramid>=2.0",
    "pyramid_jinja2>=2.10",
    "pyramid_retry>=2.1",
    "pyramid_tm>=2.5",
    "sqlalchemy>=2.0",
    "transaction>=4.0",
    "waitress>=3.0",
    "zope.sqlalchemy>=3.0",
]

tests_require = [
    "hypothesis>=6.100",
    "pytest>=8",
    "pytest-cov>=5",
    "selenium>=4.20",  # tests/integration/test_ops_browser.py, with Debian's chromium and chromium-driver
    "webtest>=3.0",
]

# scripts/conformance.py: the third-party SCIM conformance suite, pinned, since its verdicts depend on
# the exact versions of the suite, its client and its models (scim2-client talks HTTP through httpx2).
conformance_require = [
    "scim2-tester[httpx2]==0.5.2",
    "scim2-client[httpx2]==0.13.2",
    "scim2-models==0.12.3",
    "httpx2==2.16.2",
]

setup(
    name="wiggledesk-scim",
    version="0.1.0",
    description="SCIM 2.0 service provider through which identity providers manage WiggleDesk members",
    package_dir={"": "src"},
    packages=find_packages("src"),
    include_package_data=True,
    package_data={"wiggledesk_scim.adapters.sqlalchemy": ["migrations/*.py", "migrations/*.mako",
                                                           "migrations/versions/*.py"],
                  "wiggledesk_scim.entrypoints.ops": ["templates/*.jinja2", "static/*.css"],
                  "wiggledesk_scim.entrypoints.guide": ["*.md", "*.css"]},
    python_requires=">=3.11",
    install_requires=requires,
    extras_require={"testing": tests_require, "conformance": conformance_require},
    entry_points={
        "paste.app_factory": ["main = wiggledesk_scim.entrypoints.pyramid_app:main"],
        # [server:main] use = egg:wiggledesk-scim#main: waitress, with a one-line refusal of a taken address.
        "paste.server_runner": ["main = wiggledesk_scim.entrypoints.server:serve"],
        "console_scripts": ["wiggledesk-scim = wiggledesk_scim.entrypoints.cli:main"],
    },
)
