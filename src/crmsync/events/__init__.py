"""Marketing events (SPEC §5): the event store in the Campaign store and the ``outbound`` workflow.

Events (send, open, click, bounce) are recorded with :func:`record_events` or imported from a file
(:func:`read_event_file`); an :class:`Unsubscribe` opts its profile out when recorded. The
outbound workflow (:func:`open_outbound`) writes new ones to the CRM.
"""

from crmsync.events.files import FileProblem, ReadResult, read_event_file
from crmsync.events.model import EVENT_TYPES, AnyEvent, BounceType, Event, Unsubscribe
from crmsync.events.record import RecordResult, record_events

__all__ = [
    "EVENT_TYPES",
    "AnyEvent",
    "BounceType",
    "Event",
    "FileProblem",
    "ReadResult",
    "RecordResult",
    "Unsubscribe",
    "read_event_file",
    "record_events",
]
