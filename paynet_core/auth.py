"""Who may do what: roles from configuration, and the pages and actions each role may use.

Roles are ordered: a viewer sees; an operator also issues invoices and runs bulk jobs; an admin
also sees settings and the audit log. Roles come from ``[roles]`` in secrets.toml (e-mail →
role) or from an IdP claim (``roles``/``role``/``groups``) naming one of the three.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .errors import PermissionDenied
from .i18n import Message


class Role(IntEnum):
    NONE = 0
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, value: object) -> Role:
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            return cls.NONE


#: The least role that may use each action (and the page that performs it).
ACTIONS: dict[str, Role] = {
    "view": Role.VIEWER,
    "sync": Role.OPERATOR,
    "issue_invoice": Role.OPERATOR,
    "change_status": Role.OPERATOR,
    "run_job": Role.OPERATOR,
    "view_jobs": Role.VIEWER,
    "view_audit": Role.ADMIN,
    "settings": Role.ADMIN,
    "refresh": Role.OPERATOR,  # a provider call with the server's keys, and a cache write
}

DEMO_EMAIL = "demo.operator@sandbox.local"


@dataclass(frozen=True)
class User:
    email: str
    name: str
    role: Role
    demo: bool = False
    #: Nobody logged in (test/live without ``[auth]``): may look, never act.
    anonymous: bool = False

    def can(self, action: str) -> bool:
        return self.role >= ACTIONS[action]

    @property
    def label(self) -> str:
        return f"{self.name} ({self.role.name.lower()})"


def role_for(email: str | None, claims: dict[str, Any], roles: dict[str, str]) -> Role:
    """The configured role for a logged-in person; an unknown person gets no role at all."""
    if email and email.lower() in roles:
        return Role.parse(roles[email.lower()])
    for claim in ("roles", "role", "groups"):
        value = claims.get(claim)
        values = value if isinstance(value, list) else [value]
        best = max((Role.parse(v) for v in values if v), default=Role.NONE)
        if best is not Role.NONE:
            return best
    return Role.NONE


def demo_user() -> User:
    """The local operator of sandbox mode without login: issues and runs jobs, on fake money.

    An operator, not an admin (as the README says): audit log and settings need a login."""
    return User(email=DEMO_EMAIL, name="Demo operator", role=Role.OPERATOR, demo=True)


def anonymous_user() -> User:
    """Test or live mode without ``[auth]``: a visitor who may read and do nothing else."""
    return User(email="anonymous@local", name="Not logged in", role=Role.VIEWER, anonymous=True)


def require_role(user: User | None, role: Role, *, action: str) -> User:
    """Raise :class:`PermissionDenied` unless ``user`` may do ``action`` (needs ``role``).

    Called inside each action, right where it runs, so a button drawn for the wrong person
    (or a stale page) still cannot act. An anonymous visitor is refused every action.
    """
    if user is None or user.anonymous:
        raise PermissionDenied(
            Message(
                "{action}: login is not configured, so actions are disabled in test and live mode "
                "(add [auth] and [roles] to .streamlit/secrets.toml)",
                action=action,
            ),
            action=action,
        )
    if user.role < role:
        has = (
            Message("{email} is {role}", email=user.email, role=Message(user.role.name.lower()))
            if user.role
            else Message("{email} is without a role", email=user.email)
        )
        raise PermissionDenied(
            Message(
                "{action} needs the {role} role; {has}",
                action=action,
                role=Message(role.name.lower()),
                has=has,
            ),
            action=action,
        )
    return user
