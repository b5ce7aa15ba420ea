"""When two values of a Campaign field are the same value, for the two-way merge.

Both sides of a two-way mapping are compared in Campaign terms (the CRM's values converted as the
inbound direction writes them), so equality is the Campaign type's, not Python's ``==``:

- **text** (``string``, ``text``): an empty text and no value are the same value. Both CRMs store
  an empty text as null, so telling them apart would make every ``""`` written to the CRM come
  back as a change to null, and bounce;
- **numbers**: equal as numbers (``1 == 1.0``); ``float`` fields (single precision) compare at
  the precision the field keeps, so a value read back from the store equals the value written;
  two NaNs are the same value;
- **date-times**: the same instant, whatever the zone; a naive date-time is refused
  (:class:`ValueError`), as the store refuses it: guessing its zone is how values drift by hours;
- **booleans and dates**: plain equality; no value is only the same as no value.

:func:`value_key` gives the form under which equal values are equal dictionary keys.
"""

from __future__ import annotations

import math
import struct
from contextlib import suppress
from datetime import datetime
from typing import Any

from crmsync.store.types import CampaignType

__all__ = ["same_value", "value_key"]

_TEXT = (CampaignType.STRING, CampaignType.TEXT)
_NUMBERS = (CampaignType.INTEGER, CampaignType.DOUBLE, CampaignType.FLOAT)
_FLOAT32 = struct.Struct("<f")
#: The key of every NaN: distinct from any number.
_NAN = ("NaN",)


def value_key(kind: CampaignType, value: Any) -> Any:
    """``value`` of a ``kind`` field in a form where same values are equal and hash alike."""
    if value is None:
        return None
    if kind in _TEXT:
        return value if value != "" else None
    if kind in _NUMBERS and not isinstance(value, bool):
        number = float(value) if kind is CampaignType.FLOAT else value
        if isinstance(number, float):
            if math.isnan(number):
                return _NAN
            if kind is CampaignType.FLOAT:
                with suppress(OverflowError):  # beyond single precision: compared as it is
                    number = _FLOAT32.unpack(_FLOAT32.pack(number))[0]
        return number
    if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"naive date and time {value.isoformat()} has no time zone")
    return value


def same_value(kind: CampaignType, left: Any, right: Any) -> bool:
    """Whether ``left`` and ``right`` are the same value of a ``kind`` field (see the module)."""
    return bool(value_key(kind, left) == value_key(kind, right))
