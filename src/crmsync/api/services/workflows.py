"""Workflow status, start and stop, and configuration revisions, for the API."""

from __future__ import annotations

from crmsync.api.errors import NotFound
from crmsync.api.models import RevisionOut, StopOut, WorkflowOut
from crmsync.audit import Action, Actor, record, recorded
from crmsync.workflows.revisions import Revision, changes
from crmsync.workflows.supervisor import StopResult, Supervisor, WorkflowView

__all__ = ["WorkflowService", "revision_out"]


def _out(view: WorkflowView) -> WorkflowOut:
    return WorkflowOut(
        name=view.name,
        status=view.status,
        reason=view.reason,
        since=view.since,
        backlog=view.backlog,
        last_error=view.last_error,
        counters=dict(view.counters),
        active_revision=view.active_revision,
        pending_revision=view.pending_revision,
    )


def revision_out(revision: Revision) -> RevisionOut:
    return RevisionOut(
        id=revision.id,
        workflow=revision.workflow,
        author=revision.author,
        created_at=revision.created_at,
        state=revision.state,
        note=revision.note,
    )


def _stop_out(result: StopResult) -> StopOut:
    return StopOut(workflow=result.workflow, status=result.status, warning=result.warning)


class WorkflowService:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    async def all(self) -> list[WorkflowOut]:
        return [_out(view) for view in await self.supervisor.views()]

    async def get(self, name: str) -> WorkflowOut:
        return _out(await self.supervisor.view(name))

    async def start(self, name: str, *, by: Actor) -> WorkflowOut:
        """Start ``name``; recorded, and so is the activation of its pending revision."""
        engine = self.supervisor.engine
        with recorded(engine, by, Action.WORKFLOW_START, name) as details:
            pending = self.supervisor.revisions.pending(name)
            view = await self.supervisor.start(name)
            details["revision"] = view.active_revision
        if pending is not None and view.active_revision == pending.id:
            record(
                engine,
                actor=by.name,
                face=by.face,
                action=Action.REVISION_ACTIVATE,
                target=name,
                details={"revision": pending.id},
            )
        return _out(await self.supervisor.view(name, measure=False))

    async def stop(self, name: str, *, by: Actor) -> StopOut:
        with recorded(self.supervisor.engine, by, Action.WORKFLOW_STOP, name):
            return _stop_out(await self.supervisor.stop(name))

    def revisions(self, workflow: str | None, limit: int) -> list[RevisionOut]:
        if workflow is not None:
            self.supervisor.revision(workflow)  # an unknown workflow is an error, not []
        return [revision_out(r) for r in self.supervisor.revisions.history(workflow, limit=limit)]

    def changes(self, revision_id: int) -> tuple[RevisionOut, str]:
        """Revision ``revision_id`` and its changes: a unified diff of its YAML against the
        workflow's revision before it (the whole file for a workflow's first revision)."""
        revisions = self.supervisor.revisions
        revision = revisions.get(revision_id)
        if revision is None:
            raise NotFound(f"there is no configuration revision {revision_id}")
        before = revisions.previous(revision)
        diff = changes(
            before.yaml if before is not None else None,
            revision.yaml,
            labels=(f"revision {before.id}" if before else "(none)", f"revision {revision.id}"),
        )
        return revision_out(revision), diff

    def export(self, workflow: str, *, latest: bool) -> str:
        return self.supervisor.revision(workflow, latest=latest).yaml
