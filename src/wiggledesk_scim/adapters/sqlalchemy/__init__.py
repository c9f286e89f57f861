"""The SQLAlchemy storage: the repository ports over SQLite or PostgreSQL, and the schema's migrations.

``SqlAlchemyStorage(make_engine(url)).open(transaction_manager)`` gives a unit of work whose Session takes
part in that manager's transactions; ``migrate.upgrade(engine)`` brings a database to the current schema.
Does not commit (the transaction manager does), build engines at import time, or know SCIM.
"""
from .unit_of_work import SqlAlchemyStorage, SqlAlchemyUnitOfWork, engine_from_settings, make_engine

__all__ = ["SqlAlchemyStorage", "SqlAlchemyUnitOfWork", "engine_from_settings", "make_engine"]
