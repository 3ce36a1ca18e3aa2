"""Admin-only system functions (`_system/...`): what the dashboard reads and changes.

They are ordinary queries and mutations, so the dashboard subscribes to them through
the sync protocol like any app query and sees changes live; the engine runs them
only for callers holding the admin key (`AdminOnly` for everyone else).
"""

from reactor.runtime.admin.registry import SYSTEM_PREFIX, AdminOnlyError, SystemFunctions

__all__ = ["SYSTEM_PREFIX", "AdminOnlyError", "SystemFunctions"]
