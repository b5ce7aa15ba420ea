"""The ``crmsync`` command: one Typer application, one module per noun."""

from __future__ import annotations

import typer

from crmsync import __version__
from crmsync.cli import (
    audit,
    config_cmds,
    config_revisions,
    demo,
    emulate,
    events,
    job,
    mapping,
    option,
    optout,
    privacy,
    queue,
    rejects,
    resources,
    run,
    serve,
    status,
    store,
    user,
    workflow,
)

app = typer.Typer(
    name="crmsync",
    help="Keep Dynamics 365 / Salesforce and the Campaign store in sync.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(emulate.app, name="emulate")
app.add_typer(resources.app, name="resources")
app.add_typer(job.app, name="job")
app.add_typer(option.app, name="option")
app.add_typer(mapping.app, name="mapping")
app.add_typer(optout.app, name="optout")
app.add_typer(events.app, name="events")
app.add_typer(privacy.app, name="privacy")
app.add_typer(user.app, name="user")
app.add_typer(store.app, name="store")
app.add_typer(queue.app, name="queue")
app.add_typer(workflow.app, name="workflow")
app.add_typer(rejects.app, name="rejects")
app.add_typer(config_revisions.app, name="config")
app.command("run")(run.run)
app.command("status")(status.status)
app.command("serve")(serve.serve)
app.command("init")(config_cmds.init)
app.command("validate")(config_cmds.validate)
app.command("demo")(demo.demo)
app.command("audit")(audit.audit)


@app.command()
def version() -> None:
    """Print crmsync's version."""
    typer.echo(__version__)


def main() -> None:
    app()
