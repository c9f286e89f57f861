"""Adapters: the ports made real (in-memory, SQLAlchemy, the system clock and UUIDs).

Adapters import the domain, never the entrypoints; the domain never imports them.
"""
