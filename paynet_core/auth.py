"""Who may do what: roles from configuration, and the pages and actions each role may use.

Roles are ordered: a viewer sees; an operator also issues invoices and runs bulk jobs; an admin
also sees settings and the audit log. Roles come from ``[roles]`` in secrets.toml (e-mail →
role) or from an IdP claim (``roles``/``role``/``groups``) naming one of the three.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


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
}

DEMO_EMAIL = "demo.operator@sandbox.local"


@dataclass(frozen=True)
class User:
    email: str
    name: str
    role: Role
    demo: bool = False

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
    """The local operator of sandbox mode without login: may do everything, on fake money."""
    return User(email=DEMO_EMAIL, name="Demo operator", role=Role.ADMIN, demo=True)
