"""Which CRM field types may be written into which Campaign field types.

The rules sit above both the store (:class:`~crmsync.store.types.CampaignType`) and the
connectors (:class:`~crmsync.connectors.base.CrmType`), which know nothing of each other: the
configuration checks, the engine's conversions and the generated definitions
(:mod:`crmsync.mapping.discovery`) all read them from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from crmsync.connectors.base import CrmType
from crmsync.store.types import CampaignType

__all__ = ["COMPATIBLE", "DEFAULT_LENGTHS", "default_campaign_type", "is_compatible"]

_T = CampaignType
_AS_IS = (_T.STRING, _T.TEXT)

#: For each CRM type, the Campaign types its values may be written to; the first is the default
#: used when a definition is generated from CRM metadata. Every CRM type may be written to a
#: string as is ("anything more complex is written as a string").
COMPATIBLE: Mapping[CrmType, tuple[CampaignType, ...]] = MappingProxyType(
    {
        CrmType.BOOLEAN: (_T.BOOLEAN, _T.INTEGER, *_AS_IS),
        CrmType.INTEGER: (_T.INTEGER, _T.DOUBLE, _T.FLOAT, *_AS_IS),
        CrmType.BIGINT: (_T.INTEGER, _T.DOUBLE, *_AS_IS),
        CrmType.DECIMAL: (_T.DOUBLE, _T.FLOAT, *_AS_IS),
        CrmType.DOUBLE: (_T.DOUBLE, _T.FLOAT, *_AS_IS),
        CrmType.MONEY: (_T.DOUBLE, _T.FLOAT, *_AS_IS),
        CrmType.STRING: _AS_IS,
        CrmType.MEMO: (_T.TEXT, _T.STRING),
        CrmType.DATETIME: (_T.DATETIME, _T.DATE, *_AS_IS),
        CrmType.DATE: (_T.DATE, _T.DATETIME, *_AS_IS),
        # Picklists hold a technical value (a number in Dataverse, a string in Salesforce) or a
        # display label, depending on the mapping: a string holds either.
        CrmType.PICKLIST: (_T.STRING, _T.INTEGER, _T.TEXT),
        CrmType.LOOKUP: _AS_IS,
        CrmType.UNIQUEIDENTIFIER: _AS_IS,
        CrmType.OTHER: _AS_IS,
    }
)

#: String lengths used when a definition is generated from metadata.
DEFAULT_LENGTHS: Mapping[CrmType, int] = MappingProxyType(
    {CrmType.UNIQUEIDENTIFIER: 36, CrmType.LOOKUP: 36}
)


def is_compatible(crm_type: CrmType, campaign_type: CampaignType) -> bool:
    """Whether values of ``crm_type`` may be written into a ``campaign_type`` field."""
    return campaign_type in COMPATIBLE[crm_type]


def default_campaign_type(crm_type: CrmType) -> CampaignType:
    """The Campaign type a generated definition gives a field of ``crm_type``."""
    return COMPATIBLE[crm_type][0]
