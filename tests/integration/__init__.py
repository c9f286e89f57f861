"""Tests that need a real database (SQLite, PostgreSQL) or a running WSGI stack."""
