"""The product's core: members, organisations, tokens, the services that change them and the ports they need.

Imports only the standard library (``scim/`` may add colander); never Pyramid, WebOb or SQLAlchemy.
"""
