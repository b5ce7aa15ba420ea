"""The services the routes use, as ``Annotated`` dependencies (built by ``create_app``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crmsync.api.services.crm import CrmService
from crmsync.api.services.events import EventService
from crmsync.api.services.jobs import JobService
from crmsync.api.services.mappings import MappingService
from crmsync.api.services.optinout import OptInOutService
from crmsync.api.services.resources import ResourceService
from crmsync.api.services.users import UserService
from crmsync.api.services.workflows import WorkflowService
from crmsync.workflows.supervisor import Supervisor

__all__ = [
    "Crm",
    "Events",
    "Mappings",
    "OptInOut",
    "Resources",
    "SupervisorDep",
    "Users",
    "Workflows",
]


def _supervisor(request: Request) -> Supervisor:
    supervisor: Supervisor = request.app.state.supervisor
    return supervisor


def _workflows(request: Request) -> WorkflowService:
    service: WorkflowService = request.app.state.workflow_service
    return service


def _mappings(request: Request) -> MappingService:
    service: MappingService = request.app.state.mapping_service
    return service


SupervisorDep = Annotated[Supervisor, Depends(_supervisor)]
Workflows = Annotated[WorkflowService, Depends(_workflows)]
Mappings = Annotated[MappingService, Depends(_mappings)]


def _crm(request: Request) -> CrmService:
    service: CrmService = request.app.state.crm_service
    return service


Crm = Annotated[CrmService, Depends(_crm)]


def _resources(request: Request) -> ResourceService:
    service: ResourceService = request.app.state.resource_service
    return service


Resources = Annotated[ResourceService, Depends(_resources)]


def _events(request: Request) -> EventService:
    service: EventService = request.app.state.event_service
    return service


Events = Annotated[EventService, Depends(_events)]


def _optinout(request: Request) -> OptInOutService:
    service: OptInOutService = request.app.state.optinout_service
    return service


OptInOut = Annotated[OptInOutService, Depends(_optinout)]


def _users(request: Request) -> UserService:
    service: UserService = request.app.state.user_service
    return service


Users = Annotated[UserService, Depends(_users)]


def _jobs(request: Request) -> JobService:
    service: JobService = request.app.state.job_service
    return service


Jobs = Annotated[JobService, Depends(_jobs)]
