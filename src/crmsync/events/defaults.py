"""Where each event type goes in the CRM by default, and which field gets which attribute.

The defaults are the event tables both emulators' seed schemas hold (and that a site creates in
its CRM): custom tables ``crmsync_email<type>`` in Dataverse, custom objects ``Email_<Type>__c``
in Salesforce. ``outbound.tables`` and ``outbound.fields`` replace them per type / attribute.
"""

from __future__ import annotations

from collections.abc import Mapping

from crmsync.config.models import EventAttribute, EventType, OutboundConfig

__all__ = ["DEFAULT_FIELDS", "DEFAULT_TABLES", "KEY_ATTRIBUTE", "field_map", "table_for"]

#: The attribute whose CRM field is the upsert key (alternate key / external id).
KEY_ATTRIBUTE: EventAttribute = "event_id"

DEFAULT_TABLES: Mapping[str, Mapping[EventType, str]] = {
    "dataverse": {
        "send": "crmsync_emailsend",
        "open": "crmsync_emailopen",
        "click": "crmsync_emailclick",
        "bounce": "crmsync_emailbounce",
    },
    "salesforce": {
        "send": "Email_Send__c",
        "open": "Email_Open__c",
        "click": "Email_Click__c",
        "bounce": "Email_Bounce__c",
    },
}

_DATAVERSE_COMMON: dict[EventAttribute, str] = {
    "event_id": "crmsync_eventid",
    "name": "crmsync_name",
    "contact": "crmsync_contactid",
    "delivery_id": "crmsync_deliveryid",
    "delivery_name": "crmsync_deliveryname",
    "occurred_at": "crmsync_occurredon",
}
_SALESFORCE_COMMON: dict[EventAttribute, str] = {
    "event_id": "Event_Id__c",
    "name": "Name",
    "contact": "Contact__c",
    "delivery_id": "Delivery_Id__c",
    "delivery_name": "Delivery_Name__c",
    "occurred_at": "Occurred_At__c",
}

DEFAULT_FIELDS: Mapping[str, Mapping[EventType, Mapping[EventAttribute, str]]] = {
    "dataverse": {
        "send": _DATAVERSE_COMMON,
        "open": _DATAVERSE_COMMON,
        "click": {**_DATAVERSE_COMMON, "url": "crmsync_url"},
        "bounce": {
            **_DATAVERSE_COMMON,
            "bounce_type": "crmsync_bouncetype",
            "reason": "crmsync_reason",
        },
    },
    "salesforce": {
        "send": _SALESFORCE_COMMON,
        "open": _SALESFORCE_COMMON,
        "click": {**_SALESFORCE_COMMON, "url": "Url__c"},
        "bounce": {**_SALESFORCE_COMMON, "bounce_type": "Bounce_Type__c", "reason": "Reason__c"},
    },
}


def table_for(section: OutboundConfig, kind: str, event_type: EventType) -> str:
    """The CRM table of ``event_type``: configured, or the CRM kind's default."""
    configured = section.tables.get(event_type)
    if configured is not None:
        return configured
    return DEFAULT_TABLES[kind][event_type]


def field_map(
    section: OutboundConfig, kind: str, event_type: EventType
) -> dict[EventAttribute, str]:
    """Event attribute → CRM field for ``event_type``: the defaults, with configured fields."""
    return dict(DEFAULT_FIELDS[kind][event_type]) | section.fields.get(event_type, {})
