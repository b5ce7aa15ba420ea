"""The suppression list on SQLite: which rows a write leaves out (by key, by a link to a
suppressed parent, by the email hash of a profile not stored yet), and the email hash itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.state.store import StateStore
from crmsync.state.suppressions import NewSuppression, WriteGuard, email_hash
from crmsync.store import (
    PROFILE,
    LinkDefinition,
    ResourceDefinition,
    build_metadata,
    create_engine_for,
    definitions_with_profile,
    publish,
)
from crmsync.store.resources import FieldDefinition
from crmsync.store.types import CampaignType
from crmsync.store.writes import upsert_batch

SUBSCRIPTION = ResourceDefinition(
    name="subscription",
    identifier="crm_id",
    fields=(
        FieldDefinition(name="crm_id", type=CampaignType.STRING, length=36),
        FieldDefinition(name="contact_id", type=CampaignType.STRING, length=255),
    ),
    links=(LinkDefinition(resource="profile", field="contact_id"),),
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    made = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    publish(made, [SUBSCRIPTION])
    yield made
    made.dispose()


def test_an_email_is_hashed_trimmed_and_lower_cased() -> None:
    assert email_hash(" Ann@Example.ORG ") == email_hash("ann@example.org")
    assert email_hash("ann@example.org") != email_hash("bob@example.org")
    assert len(email_hash("ann@example.org")) == 64
    assert "ann" not in email_hash("ann@example.org")


def test_nothing_is_left_out_while_the_list_is_empty(engine: sa.Engine) -> None:
    state = StateStore(engine)
    tables = build_metadata(definitions_with_profile([SUBSCRIPTION])).tables
    rows = [{"external_id": "A", "email": "a@x.org"}]
    with engine.begin() as conn:
        kept, dropped = state.suppressions.unsuppressed(
            conn, WriteGuard("profile", "external_id"), tables["profile"], rows,
            upsert_key="external_id",
        )  # fmt: skip
    assert (kept, dropped) == (rows, 0)


def test_suppressed_keys_links_and_new_profiles_with_a_suppressed_email(
    engine: sa.Engine,
) -> None:
    state = StateStore(engine)
    tables = build_metadata(definitions_with_profile([SUBSCRIPTION])).tables
    with engine.begin() as conn:
        upsert_batch(
            conn,
            tables["profile"],
            "external_id",
            [{"external_id": "KEPT", "email": "x@y.org"}],
            version_field=None,
        )
        added = state.suppressions.add(
            conn,
            [
                NewSuppression("crm_id", "profile", "GONE", "crm", "contact"),
                NewSuppression("email", "profile", email_hash("gone@y.org")),
                NewSuppression("email", "profile", email_hash("x@y.org")),
            ],
            reason="request",
            by="cli:test",
            delete_id="d1",
        )
        again = state.suppressions.add(
            conn,
            [NewSuppression("crm_id", "profile", "GONE")],
            reason="again",
            by="cli:test",
            delete_id=None,
        )
    assert (added, again) == (3, 0)

    profiles: list[dict[str, Any]] = [
        {"external_id": "GONE", "email": "other@y.org"},  # its CRM id
        {"external_id": "NEW", "email": "Gone@Y.org"},  # a new profile with the email
        {"external_id": "KEPT", "email": "x@y.org"},  # stored already: an update goes through
        {"external_id": "FINE", "email": "fine@y.org"},
    ]
    children = [
        {"crm_id": "S1", "contact_id": "GONE"},
        {"crm_id": "S2", "contact_id": "FINE"},
        {"crm_id": "S3", "contact_id": None},
    ]
    with engine.begin() as conn:
        kept, dropped = state.suppressions.unsuppressed(
            conn, WriteGuard("profile", "external_id"), tables[PROFILE.name], profiles,
            upsert_key="external_id",
        )  # fmt: skip
        assert [row["external_id"] for row in kept] == ["KEPT", "FINE"]
        assert dropped == 2
        guard = WriteGuard("subscription", "crm_id", (("contact_id", "profile"),))
        kept, dropped = state.suppressions.unsuppressed(
            conn, guard, tables["subscription"], children, upsert_key="crm_id"
        )
        assert [row["crm_id"] for row in kept] == ["S2", "S3"]
        assert dropped == 1

    with engine.begin() as conn:
        lifted = state.suppressions.lift(conn, "crm_id", "profile", "GONE")
        assert lifted is not None
        assert (lifted.reason, lifted.delete_id) == ("request", "d1")
        assert state.suppressions.lift(conn, "crm_id", "profile", "GONE") is None
    assert [entry.kind for entry in state.suppressions.listed()] == ["email", "email"]
