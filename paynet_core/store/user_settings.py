"""Each person's dashboard settings (today: the language), kept in the cache so a choice survives
reloads and is the same on every replica."""

from __future__ import annotations

from ..errors import StoreError

#: The first schema version with ``user_settings``.
USER_SETTINGS_VERSION = 6


class UserSettingsMixin:
    def user_language(self, email: str) -> str | None:
        """The language this person chose on the dashboard (``"tr"``/``"en"``), None if never."""
        if not email or self.schema_version() < USER_SETTINGS_VERSION:  # type: ignore[attr-defined]
            return None
        row = self.db.conn.execute(  # type: ignore[attr-defined]
            "SELECT language FROM user_settings WHERE email = ?", (email,)
        ).fetchone()
        return row[0] if row else None

    def set_user_language(self, email: str, language: str) -> None:
        """Remember ``language`` for ``email``.

        One autocommitted statement, outside ``transaction()``: a preference is not cached data,
        so it must not bump the data version and recompute every chart."""
        if self.is_read_only:  # type: ignore[attr-defined]
            raise StoreError(f"{self!r} is read-only; it refuses writes")
        if language not in ("tr", "en"):
            raise ValueError(f"unknown language {language!r}")
        self.db.conn.execute(  # type: ignore[attr-defined]
            """INSERT INTO user_settings (email, language, updated_at) VALUES (?, ?, ?)
               ON CONFLICT (email) DO UPDATE SET language = excluded.language,
               updated_at = excluded.updated_at""",
            (email, language, self._now()),  # type: ignore[attr-defined]
        )
