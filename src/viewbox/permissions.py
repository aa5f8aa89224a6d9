"""Who may do what: the rule every destructive action follows, whichever door it comes through.

Calls that change the host or delete data are allowed from this computer; from elsewhere only
when listed in `remote_methods` (for everyone) or `user_methods` (for one signed-in user). The
control API's methods (`Method.permission`, checked by `Controller.check_permission`) and the web
UI's delete, send and retrieve ask the same question here. Settings stay in config.py; this
module only reads them.
"""

from __future__ import annotations

from .config import Settings
from .errors import Forbidden

# The core methods that change the host or reach beyond it (a plugin may declare its own).
DESTRUCTIVE_METHODS = ("KillOsiriX", "DBWindowFind:Delete", "OpenDB", "DownloadURL",
                       "exportSelectedToPath", "SendStudy")


def listed_for_remote(settings: Settings, permission: str, user: str | None = None) -> bool:
    """Whether peers on other computers may do `permission`: listed in `remote_methods`
    for everyone, or in `user_methods` for this user. The control API's destructive methods and
    the web UI's delete, send and retrieve share this rule."""
    allowed = {name.lower() for name in settings.remote_methods}
    if user is not None:
        allowed |= {name.lower() for name in settings.user_methods.get(user, ())}
    return "*" in allowed or permission.lower() in allowed


def require_allowed(settings: Settings, permission: str, *, local: bool, where: str,
                    user: str | None) -> None:
    """Forbidden unless the call is local (each transport says what that means) or listed."""
    if local or listed_for_remote(settings, permission, user):
        return
    for_user = f', or user_methods = {{ {user} = ["{permission}"] }} for this user alone' if user else ""
    raise Forbidden(f"{permission} is not allowed from {where}. To allow it from other computers, start "
                    f"with --allow-method {permission}, or set remote_methods = [\"{permission}\"] in the "
                    f"configuration file (VIEWBOX_REMOTE_METHODS={permission}){for_user}")
