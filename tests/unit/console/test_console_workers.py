"""The Workers page: every registered worker, live or gone, with the leases it holds; the table
alone when htmx polls it."""

from __future__ import annotations

from console_support import Api, log_in


async def test_the_workers_page_lists_live_and_gone_workers(console: Api) -> None:
    state = console.supervisor.state
    state.workers.register("host-a:11:aa", "reader", "host-a", "host-a boot", 11)
    state.workers.register("host-b:22:bb", "writer", "host-b", "host-b boot", 22)
    state.workers.stopped("host-b:22:bb")
    state.leases.take("inbound:contacts", "host-a:11:aa", 60)
    await log_in(console.client, "viewer")
    page = await console.client.get("/console/workers")
    assert page.status_code == 200
    assert 'aria-current="page">Workers' in page.text
    assert "1 live, 1 gone" in page.text
    assert "<td>inbound:contacts</td><td>live</td>" in page.text
    assert "<td>stopped</td>" in page.text
    polled = await console.client.get("/console/workers", headers={"HX-Request": "true"})
    assert polled.text.lstrip().startswith('<div id="workers"')
    assert "host-a:11:aa" in polled.text


async def test_no_worker_yet(console: Api) -> None:
    await log_in(console.client, "viewer")
    page = await console.client.get("/console/workers")
    assert "No worker has registered yet." in page.text
