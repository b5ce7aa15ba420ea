"""The shared payload format and the helpers of crmsync.queue."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType

import pytest

import crmsync.queue as queue_package
from crmsync.queue import (
    Change,
    ChangeMessage,
    PayloadError,
    QueueError,
    decode_changes,
    encode_changes,
)


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(queue_package).items()
        if not name.startswith("_") and not isinstance(value, type(queue_package))
    }
    assert set(queue_package.__all__) == public


def test_payloads_round_trip_any_mapping_type() -> None:
    changes = [
        Change("upsert", "a", 1, MappingProxyType({"k": [1, 2.5, None]}), {"k": "K"}),
        Change("delete", "b", "v2"),
    ]
    decoded = decode_changes(encode_changes("m", changes))
    assert decoded == [Change("upsert", "a", 1, {"k": [1, 2.5, None]}, {"k": "K"}), changes[1]]


def test_payloads_carry_the_readers_digest() -> None:
    changes = [Change("upsert", "a", 7, {"k": "v"}, {}, -(2**63)), Change("upsert", "b", 8)]
    decoded = decode_changes(encode_changes("m", changes))
    assert [change.digest for change in decoded] == [-(2**63), None]
    assert decoded == changes


def test_payloads_of_earlier_versions_decode_without_a_digest() -> None:
    decoded = decode_changes(b'[["upsert", "a", 3, {"k": 1}, {}], ["delete", "b", 4, {}, {}]]')
    assert decoded == [Change("upsert", "a", 3, {"k": 1}, {}), Change("delete", "b", 4)]


@pytest.mark.parametrize(
    "value", [datetime(2026, 1, 1, tzinfo=UTC), Decimal("1.5"), {1, 2}, b"bytes", 2**70]
)
def test_values_that_would_not_round_trip_are_refused(value: object) -> None:
    changes = [Change("upsert", "fine", 1, {"v": 1}), Change("upsert", "bad", 1, {"v": value})]
    with pytest.raises(PayloadError, match=r"mapping 'contacts': change 'bad'") as caught:
        encode_changes("contacts", changes)
    assert caught.value.record_id == "bad"


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        b'{"a": 1}',
        b'[["upsert", "a", 1, {}]]',
        b'[["merge", "a", 1, {}, {}]]',
        b'[["upsert", 5, 1, {}, {}]]',
        b'[["upsert", "a", 1, [], {}]]',
        b'[["upsert", "a", 1, {}, {}, "digest"]]',
        b'[["upsert", "a", 1, {}, {}, 1.5]]',
        b'[["upsert", "a", 1, {}, {}, 9223372036854775808]]',
        b'[["upsert", "a", 1, {}, {}, true]]',
        b'[["upsert", "a", 1, {}, {}, 1, 2]]',
        b"[5]",
    ],
)
def test_malformed_payloads_raise_a_queue_error(payload: bytes) -> None:
    with pytest.raises(QueueError, match="undecodable change payload"):
        decode_changes(payload)


def test_message_counts_its_changes() -> None:
    assert ChangeMessage("m", [Change("delete", "a")] * 3).change_count == 3
