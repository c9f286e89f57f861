"""The ops console: read-only HTML pages under /ops/ for ops and support, behind HTTP Basic, served only
when the ini sets ``ops.username`` and ``ops.password_hash`` (README, "Ops console")."""
from .views import add_ops_console

__all__ = ["add_ops_console"]
