"""The audit trail's one service: what :func:`record` and :func:`recorded` write, and the filters
of :func:`query` (user with its tokens and OS user, action or prefix, time window, paging)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.audit import Action, Actor, Face, Outcome, query, record, recorded
from crmsync.audit.tables import AUDIT
from crmsync.errors import ConfigurationError
from crmsync.store import create_engine_for

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    made = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    yield made
    made.dispose()


def _add(engine: sa.Engine, actor: str, action: Action, minutes: int, target: str = "x") -> int:
    return record(
        engine,
        actor=actor,
        face=Face.API,
        action=action,
        target=target,
        at=T0 + timedelta(minutes=minutes),
    )


@pytest.fixture
def filled(engine: sa.Engine) -> sa.Engine:
    _add(engine, "ada", Action.WORKFLOW_START, 0, "inbound")
    _add(engine, "token:ada", Action.WORKFLOW_STOP, 1, "inbound")
    _add(engine, "cli:ada", Action.USER_CREATE, 2, "bob")
    _add(engine, "bob", Action.MAPPING_UPDATE, 3, "contacts")
    _add(engine, "token:bob", Action.MAPPING_REPLAY, 4, "contacts")
    return engine


def _who_what(engine: sa.Engine, **filters: object) -> list[tuple[str, str]]:
    return [(e.actor, e.action) for e in query(engine, **filters)]  # type: ignore[arg-type]


def test_entries_come_newest_first_with_what_was_recorded(filled: sa.Engine) -> None:
    found = query(filled)
    assert [e.action for e in found] == [
        "mapping.replay",
        "mapping.update",
        "user.create",
        "workflow.stop",
        "workflow.start",
    ]
    last = found[-1]
    assert (last.actor, last.face, last.target, last.outcome) == (
        "ada",
        Face.API,
        "inbound",
        Outcome.OK,
    )
    assert last.at == T0
    assert last.details == {}


def test_a_user_filter_takes_their_tokens_and_os_user_a_kind_takes_one_actor(
    filled: sa.Engine,
) -> None:
    assert _who_what(filled, actor="ada") == [
        ("cli:ada", "user.create"),
        ("token:ada", "workflow.stop"),
        ("ada", "workflow.start"),
    ]
    assert _who_what(filled, actor="token:ada") == [("token:ada", "workflow.stop")]
    assert _who_what(filled, actor="cli:ada") == [("cli:ada", "user.create")]
    assert _who_what(filled, actor="nobody") == []


def test_an_action_filter_is_one_action_or_a_subject_ending_in_a_dot(filled: sa.Engine) -> None:
    assert _who_what(filled, action="mapping.replay") == [("token:bob", "mapping.replay")]
    assert [a for _, a in _who_what(filled, action="workflow.")] == [
        "workflow.stop",
        "workflow.start",
    ]
    assert _who_what(filled, action="workflow") == []  # no dot: one action's exact name
    # The prefix is matched as written: a LIKE wildcard matches nothing more.
    assert _who_what(filled, action="%.") == []
    assert _who_what(filled, action="w_rkflow.") == []


def test_since_is_inclusive_until_exclusive_and_filters_combine(filled: sa.Engine) -> None:
    window = {"since": T0 + timedelta(minutes=1), "until": T0 + timedelta(minutes=3)}
    assert _who_what(filled, **window) == [
        ("cli:ada", "user.create"),
        ("token:ada", "workflow.stop"),
    ]
    assert _who_what(filled, actor="bob", action="mapping.", since=T0 + timedelta(minutes=4)) == [
        ("token:bob", "mapping.replay")
    ]


def test_limit_and_offset_page_through_the_trail(filled: sa.Engine) -> None:
    first = query(filled, limit=2)
    second = query(filled, limit=2, offset=2)
    third = query(filled, limit=2, offset=4)
    assert [len(first), len(second), len(third)] == [2, 2, 1]
    assert len({e.id for e in [*first, *second, *third]}) == 5


def test_a_time_without_its_zone_is_refused(filled: sa.Engine) -> None:
    with pytest.raises(ValueError, match="since: give a time with its zone"):
        query(filled, since=datetime(2025, 3, 1))


def test_an_unknown_action_face_or_outcome_is_refused(engine: sa.Engine) -> None:
    for wrong in ({"action": "workflow.explode"}, {"face": "fax"}, {"outcome": "maybe"}):
        arguments = {"actor": "ada", "face": "api", "action": "workflow.start"} | wrong
        with pytest.raises(ValueError, match="is not a valid"):
            record(engine, target="inbound", **arguments)
    assert query(engine) == []


def test_details_must_be_plain_json(engine: sa.Engine) -> None:
    with pytest.raises(TypeError):
        record(
            engine,
            actor="ada",
            face=Face.API,
            action=Action.JOB_RUN,
            target="nightly",
            details={"secret": object()},
        )
    assert query(engine) == []


def test_recorded_settles_ok_with_the_details_the_action_added(engine: sa.Engine) -> None:
    by = Actor("ada", Face.CONSOLE)
    with recorded(engine, by, Action.MAPPING_CREATE, "contacts") as details:
        (started,) = query(engine)
        assert started.outcome is Outcome.STARTED  # visible while the action runs
        details["revision"] = 7
    (entry,) = query(engine)
    assert (entry.id, entry.actor, entry.face) == (started.id, "ada", Face.CONSOLE)
    assert (entry.outcome, entry.details) == (Outcome.OK, {"revision": 7})


def test_recorded_settles_failed_with_the_code_never_the_message(engine: sa.Engine) -> None:
    by = Actor("ada", Face.API, token=True)
    with (
        pytest.raises(ConfigurationError),
        recorded(engine, by, Action.USER_CREATE, "bob", {"role": "viewer"}),
    ):
        raise ConfigurationError("the password 'hunter22' is too short", code="WEAK_PASSWORD")
    with pytest.raises(KeyError), recorded(engine, by, Action.JOB_RUN, "nightly"):
        raise KeyError("x")
    job, user = query(engine)
    assert (user.actor, user.outcome) == ("token:ada", Outcome.FAILED)
    assert user.details == {"role": "viewer", "error": "WEAK_PASSWORD"}
    assert job.details == {"error": "KeyError"}
    with engine.connect() as conn:
        stored = conn.execute(sa.select(AUDIT)).all()
    assert "hunter22" not in repr(stored)


def test_a_record_on_a_connection_commits_or_rolls_back_with_its_transaction(
    engine: sa.Engine,
) -> None:
    query(engine)  # the tables made
    arguments = {
        "actor": "ada",
        "face": Face.API,
        "action": Action.PRIVACY_DELETE,
        "target": "profile",
        "details": {"removed": {"profile": 1}},
    }

    def failing_delete() -> None:
        with engine.begin() as conn:
            record(conn, **arguments)  # type: ignore[arg-type]
            raise RuntimeError("the delete failed")

    with pytest.raises(RuntimeError):
        failing_delete()
    assert query(engine) == []
    with engine.begin() as conn:
        record(conn, **arguments)  # type: ignore[arg-type]
    assert [e.details for e in query(engine)] == [{"removed": {"profile": 1}}]


def test_actor_names_say_how_the_user_came() -> None:
    assert Actor("ada", Face.CONSOLE).name == "ada"
    assert Actor("ada", Face.API, token=True).name == "token:ada"
    assert Actor.cli().name.startswith("cli:")
    assert Actor.cli().face is Face.CLI
