"""The Privacy page (admins only): look a profile up by Campaign id, email or CRM id, see its ids
and what a delete would remove, and privacy-delete it (with a reason, a confirmation and,
optionally, the CRM delete); the newest privacy actions and the suppression list below."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from crmsync.api.deps import Privacy
from crmsync.api.services.privacy import PrivacyDeleteIn, ProfileIn
from crmsync.console.forms import form_fields
from crmsync.console.session import Admin
from crmsync.console.templating import message, render
from crmsync.errors import CrmsyncError

router = APIRouter()

#: The look-up form's choices: form value → the field of :class:`ProfileIn`.
_KINDS = {"profile": "profile_id", "email": "email", "crm_id": "crm_id"}


def _problem(exc: ValidationError) -> str:
    return "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())


@router.get("/privacy", response_class=HTMLResponse)
async def privacy_page(request: Request, caller: Admin, service: Privacy) -> HTMLResponse:
    return render(
        request,
        "privacy.html",
        caller,
        page="privacy",
        records=await service.records(20),
        suppressions=await service.suppressions(),
    )


@router.post("/privacy/lookup", response_class=HTMLResponse)
async def look_up(request: Request, caller: Admin, service: Privacy) -> HTMLResponse:
    form = await form_fields(request)
    field = _KINDS.get(form.get("kind", ""))
    if field is None:
        return message(
            request, "choose Campaign id, email or CRM id", status_code=422, kind="error"
        )
    try:
        found = await service.look_up(ProfileIn.model_validate({field: form.get("value", "")}))
    except ValidationError as exc:
        return message(request, f"not looked up: {_problem(exc)}", status_code=422, kind="error")
    except CrmsyncError as exc:
        return message(request, exc.message, status_code=404, kind="error")
    return render(request, "_privacy_profile.html", caller, profile=found)


@router.post("/privacy/delete", response_class=HTMLResponse)
async def delete(request: Request, caller: Admin, service: Privacy) -> HTMLResponse:
    form = await form_fields(request)
    try:
        body = PrivacyDeleteIn.model_validate(
            {
                "profile_id": form.get("profile_id", ""),
                "reason": form.get("reason", ""),
                "crm_delete": form.get("crm_delete") == "on",
            }
        )
    except ValidationError as exc:
        return message(request, f"not deleted: {_problem(exc)}", status_code=422, kind="error")
    if not body.reason.strip():
        return message(request, "not deleted: say why (a reason)", status_code=422, kind="error")
    try:
        result = await service.delete(body, caller.actor)
    except CrmsyncError as exc:
        return message(request, exc.message, status_code=409, kind="error")
    return render(request, "_privacy_result.html", caller, result=result)
