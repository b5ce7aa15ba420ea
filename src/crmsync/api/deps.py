"""The services the routes use, as ``Annotated`` dependencies (built by ``create_app``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from crmsync.api.services.audit import AuditService
from crmsync.api.services.crm import CrmService
from crmsync.api.services.events import EventService
from crmsync.api.services.jobs import JobService
from crmsync.api.services.mappings import MappingService
from crmsync.api.services.optinout import OptInOutService
from crmsync.api.services.privacy import PrivacyApiService
from crmsync.api.services.resources import ResourceService
from crmsync.api.services.users import UserService
from crmsync.api.services.workflows import WorkflowService
from crmsync.workflows.supervisor import Supervisor

__all__ = [
    "Audit",
    "Crm",
    "Events",
    "Mappings",
    "OptInOut",
    "Privacy",
    "Resources",
    "SupervisorDep",
    "Users",
    "Workflows",
]


def _state(name: str) -> Callable[[Request], Any]:
    """A dependency: ``app.state.<name>``, set by ``create_app``."""

    def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    return get


SupervisorDep = Annotated[Supervisor, Depends(_state("supervisor"))]
Workflows = Annotated[WorkflowService, Depends(_state("workflow_service"))]
Mappings = Annotated[MappingService, Depends(_state("mapping_service"))]
Crm = Annotated[CrmService, Depends(_state("crm_service"))]
Resources = Annotated[ResourceService, Depends(_state("resource_service"))]
Events = Annotated[EventService, Depends(_state("event_service"))]
OptInOut = Annotated[OptInOutService, Depends(_state("optinout_service"))]
Users = Annotated[UserService, Depends(_state("user_service"))]
Jobs = Annotated[JobService, Depends(_state("job_service"))]
Audit = Annotated[AuditService, Depends(_state("audit_service"))]
Privacy = Annotated[PrivacyApiService, Depends(_state("privacy_service"))]
