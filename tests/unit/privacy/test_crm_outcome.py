"""What a CRM's answer to a privacy delete's CRM delete means."""

from __future__ import annotations

import pytest

from crmsync.connectors.base import WriteResult
from crmsync.privacy import PrivacyRefused
from crmsync.privacy.records import CrmDelete
from crmsync.privacy.service import Target, _outcome


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (WriteResult(ok=True, status=204), (CrmDelete.DELETED, None)),
        (WriteResult(ok=False, status=404, code="0x80040217"), (CrmDelete.NOT_FOUND, "0x80040217")),
        (
            WriteResult(ok=False, code="ENTITY_IS_DELETED"),
            (CrmDelete.NOT_FOUND, "ENTITY_IS_DELETED"),
        ),
        (WriteResult(ok=False, status=503), (None, None)),
        (WriteResult(ok=False, status=429), (None, None)),
        (WriteResult(ok=False), (None, None)),
        (WriteResult(ok=False, status=403, code="0x80040220"), (CrmDelete.REFUSED, "0x80040220")),
        (WriteResult(ok=False, status=400), (CrmDelete.REFUSED, "HTTP 400")),
        (
            WriteResult(ok=False, code="DELETE_FAILED", message="in use"),
            (CrmDelete.REFUSED, "DELETE_FAILED"),
        ),
    ],
)
def test_the_answer_decides_the_outcome(
    answer: WriteResult, expected: tuple[CrmDelete | None, str | None]
) -> None:
    assert _outcome(answer) == expected


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [("profile", "12a", "is a number"), ("email", "  ", "is empty"), ("crm_id", "", "is empty")],
)
def test_a_target_must_name_a_profile(kind: str, value: str, problem: str) -> None:
    with pytest.raises(PrivacyRefused, match=problem):
        Target(kind, value)  # type: ignore[arg-type]


def test_a_target_never_shows_the_email() -> None:
    assert "ann" not in Target("email", "ann@example.org").describe()
    assert Target("crm_id", " 7d0e ").describe() == "CRM id 7d0e"
