"""``/api/users``: admins manage users and tokens; the last admin and oneself are protected."""

from __future__ import annotations

import pytest
from api_support import PASSWORD, Api

from crmsync.api.users import Role


async def test_admin_adds_changes_and_removes_a_user(api: Api) -> None:
    admin = api.auth(Role.ADMIN)
    created = await api.client.post(
        "/api/users",
        json={"name": "olga", "role": "viewer", "password": "a long password"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json() == {"name": "olga", "role": "viewer"}
    assert api.users.verify("olga", "a long password") is not None
    names = [u["name"] for u in (await api.client.get("/api/users", headers=admin)).json()]
    assert names == ["admin", "olga", "operator", "viewer"]

    changed = await api.client.patch(
        "/api/users/olga", json={"role": "operator", "password": "another password"}, headers=admin
    )
    assert changed.json() == {"name": "olga", "role": "operator"}
    assert api.users.verify("olga", "a long password") is None
    assert api.users.verify("olga", "another password") is not None

    removed = await api.client.delete("/api/users/olga", headers=admin)
    assert removed.status_code == 204
    assert api.users.get("olga") is None
    assert (await api.client.delete("/api/users/olga", headers=admin)).status_code == 404


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"name": "bob", "role": "viewer", "password": "short"}, "body.password"),
        ({"name": "bob", "role": "boss", "password": PASSWORD}, "body.role"),
        ({"name": "", "role": "viewer", "password": PASSWORD}, "body.name"),
        ({"name": "b\nob", "role": "viewer", "password": PASSWORD}, "body.name"),
        ({"name": "bob", "role": "viewer", "password": PASSWORD, "x": 1}, "body.x"),
    ],
)
async def test_invalid_users_are_422_and_nothing_is_saved(
    api: Api, body: object, where: str
) -> None:
    response = await api.client.post("/api/users", json=body, headers=api.auth(Role.ADMIN))
    assert response.status_code == 422
    assert where in response.json()["detail"]
    assert len(api.users.list()) == 3


async def test_an_existing_user_is_409(api: Api) -> None:
    body = {"name": "viewer", "role": "admin", "password": PASSWORD}
    response = await api.client.post("/api/users", json=body, headers=api.auth(Role.ADMIN))
    assert response.status_code == 409
    assert api.users.get("viewer").role is Role.VIEWER  # type: ignore[union-attr]


async def test_the_last_admin_and_oneself_are_protected(api: Api) -> None:
    admin = api.auth(Role.ADMIN)
    myself = await api.client.delete("/api/users/admin", headers=admin)
    assert myself.status_code == 409
    assert "yourself" in myself.json()["detail"]
    demoted = await api.client.patch("/api/users/admin", json={"role": "viewer"}, headers=admin)
    assert demoted.status_code == 409
    assert "last admin" in demoted.json()["detail"]
    # With a second admin, the first may be demoted; the second then cannot be removed by
    # the first, who is no admin any more.
    await api.client.patch("/api/users/operator", json={"role": "admin"}, headers=admin)
    demoted = await api.client.patch("/api/users/admin", json={"role": "viewer"}, headers=admin)
    assert demoted.status_code == 200
    refused = await api.client.delete("/api/users/operator", headers=admin)
    assert refused.status_code == 403
    last = await api.client.delete("/api/users/operator", headers=api.auth(Role.OPERATOR))
    assert last.status_code == 409
    assert api.users.get("operator") is not None


async def test_tokens_are_listed_created_once_and_revoked(api: Api) -> None:
    admin = api.auth(Role.ADMIN)
    made = await api.client.post("/api/users/viewer/tokens", headers=admin)
    assert made.status_code == 201
    token = made.json()["token"]
    assert token.startswith("crms_")
    listed = (await api.client.get("/api/users/viewer/tokens", headers=admin)).json()
    assert len(listed) == 2
    assert made.json()["id"] in [t["id"] for t in listed]
    assert all("token" not in t for t in listed)
    me = await api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["name"] == "viewer"

    revoked = await api.client.delete(
        f"/api/users/viewer/tokens/{made.json()['id']}", headers=admin
    )
    assert revoked.status_code == 204
    gone = await api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401
    # The other token of the user still works.
    assert (await api.client.get("/api/me", headers=api.auth(Role.VIEWER))).status_code == 200
    again = await api.client.delete(f"/api/users/viewer/tokens/{made.json()['id']}", headers=admin)
    assert again.status_code == 404
    assert (await api.client.post("/api/users/nope/tokens", headers=admin)).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/users"),
        ("POST", "/api/users"),
        ("PATCH", "/api/users/viewer"),
        ("DELETE", "/api/users/viewer"),
        ("GET", "/api/users/viewer/tokens"),
        ("POST", "/api/users/viewer/tokens"),
        ("DELETE", "/api/users/viewer/tokens/0123456789abcdef"),
    ],
)
async def test_users_are_for_admins_only(api: Api, method: str, path: str) -> None:
    body = {"role": "admin"} if method == "PATCH" else None
    assert (await api.client.request(method, path, json=body)).status_code == 401
    for role in (Role.VIEWER, Role.OPERATOR):
        response = await api.client.request(method, path, json=body, headers=api.auth(role))
        assert response.status_code == 403
    assert api.users.get("viewer").role is Role.VIEWER  # type: ignore[union-attr]
    assert len(api.users.list_tokens("viewer")) == 1
