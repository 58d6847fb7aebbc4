"""What a chart shows: :class:`ChartFilters`, and how they travel in a shared link's URL.

The dashboard, the CLI, exports and the notebook take the same filters, so they select the same
records. Hashable and normalised, so equal filters are equal cache keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any
from urllib.parse import unquote

from ..dates import parse_any_date
from ..errors import InputError
from ..store.schema import PROVIDERS


@dataclass(frozen=True)
class ChartFilters:
    """What a chart shows. Empty tuples and None mean "all". Days are inclusive.

    Hashable and normalised (sorted, de-duplicated), so equal filters are equal cache keys.
    """

    day_from: date | None = None
    day_to: date | None = None
    providers: tuple[str, ...] = ()
    institutions: tuple[str, ...] = ()
    invoice_types: tuple[str, ...] = ()
    agent_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("day_from", "day_to"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, date):
                object.__setattr__(self, name, parse_any_date(value, field=name))
        if self.day_from and self.day_to and self.day_from > self.day_to:
            raise InputError("the first day is after the last day", field="day_from")
        for name in ("providers", "institutions", "invoice_types"):
            value = getattr(self, name)
            items = (value,) if isinstance(value, str) else tuple(value or ())
            cleaned = tuple(sorted({str(v).strip() for v in items if str(v).strip()}))
            object.__setattr__(self, name, cleaned)
        unknown = set(self.providers) - set(PROVIDERS)
        if unknown:
            raise InputError(
                f"unknown provider {sorted(unknown)[0]!r} (choose from {', '.join(PROVIDERS)})",
                field="providers",
            )
        agent = (self.agent_id or "").strip() or None
        object.__setattr__(self, "agent_id", agent)

    # Short keys keep shared links readable: ?from=2026-11-01&to=2026-11-30&provider=payofin
    _PARAMS = {
        "day_from": "from",
        "day_to": "to",
        "providers": "provider",
        "institutions": "institution",
        "invoice_types": "invoice_type",
        "agent_id": "agent",
    }

    def to_query_params(self) -> dict[str, str]:
        """The filters as URL query parameters (for ``st.query_params.update(...)``).

        Lists are joined with commas (a comma inside a name is written ``%2C``); empty filters
        are left out, so the default view has a clean URL.
        """
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if isinstance(value, date):
                text = value.isoformat()
            elif isinstance(value, tuple):
                text = ",".join(_escape(v) for v in value)
            else:
                text = str(value)
            out[self._PARAMS[f.name]] = text
        return out

    @classmethod
    def from_query_params(cls, params: Mapping[str, str | Sequence[str]]) -> ChartFilters:
        """Filters from query parameters (``st.query_params.to_dict()``, or lists of values).

        Unknown keys are ignored (the page may keep its own); days may be ``2026-11-23`` or
        ``23.11.2026``. Invalid values raise :class:`~paynet_core.errors.InputError`.
        """
        kwargs: dict[str, Any] = {}
        for name, key in cls._PARAMS.items():
            if key not in params:
                continue
            raw = params[key]
            values = [raw] if isinstance(raw, str) else list(raw)
            if name in ("providers", "institutions", "invoice_types"):
                kwargs[name] = tuple(
                    _unescape(item) for value in values for item in value.split(",") if item
                )
            elif values and values[-1]:
                kwargs[name] = values[-1]
        for name in ("day_from", "day_to"):
            if name in kwargs:
                kwargs[name] = parse_any_date(kwargs[name], field=name)
        return cls(**kwargs)

    def wants(self, provider: str) -> bool:
        """Whether rows of ``provider`` can match these filters at all."""
        if self.providers and provider not in self.providers:
            return False
        if provider == "paynet":
            return not (self.institutions or self.invoice_types)
        return self.agent_id is None


def _escape(value: str) -> str:
    return value.replace("%", "%25").replace(",", "%2C")


def _unescape(value: str) -> str:
    return unquote(value)
