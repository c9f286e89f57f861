"""SCIM 2.0 minus HTTP: payload validation, filters, PATCH, representation and errors. May import colander;
never Pyramid, WebOb or SQLAlchemy."""
