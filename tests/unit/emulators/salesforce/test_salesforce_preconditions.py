"""If-Unmodified-Since on sObject Rows: whole seconds, 412 if modified later, 400 if unreadable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from crmsync.emulators.salesforce.errors import ApiError
from crmsync.emulators.salesforce.preconditions import check_unmodified_since

ROW = "0035g00000AAAAAAAA"


@pytest.fixture
def conn() -> Iterator[tuple[sa.Connection, sa.Table]]:
    engine = sa.create_engine("sqlite://")
    table = sa.Table(
        "Contact",
        sa.MetaData(),
        sa.Column("Id", sa.String, primary_key=True),
        sa.Column("LastModifiedDate", sa.String),
    )
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(table).values(Id=ROW, LastModifiedDate="2024-03-05T10:20:30.750+0000")
        )
        yield connection, table
    engine.dispose()


def test_unmodified_since_its_own_second_passes(conn: tuple[sa.Connection, sa.Table]) -> None:
    check_unmodified_since(*conn, ROW, "Tue, 05 Mar 2024 10:20:30 GMT")
    check_unmodified_since(*conn, ROW, None)


def test_modified_after_the_date_is_refused(conn: tuple[sa.Connection, sa.Table]) -> None:
    with pytest.raises(ApiError) as caught:
        check_unmodified_since(*conn, ROW, "Tue, 05 Mar 2024 10:20:29 GMT")
    assert (caught.value.status, caught.value.code) == (412, "PRECONDITION_FAILED")
    assert "modified since Tue, 05 Mar 2024 10:20:29 GMT" in caught.value.message


def test_an_unreadable_date_is_a_bad_request(conn: tuple[sa.Connection, sa.Table]) -> None:
    with pytest.raises(ApiError) as caught:
        check_unmodified_since(*conn, ROW, "yesterday")
    assert caught.value.status == 400
    assert "If-Unmodified-Since" in caught.value.message
