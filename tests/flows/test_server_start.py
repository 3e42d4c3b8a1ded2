"""Prefect's embedded server started ahead of the flow (flows/server_start.py):
the flow run must use that server, not start a second, and a lab's own
server (PREFECT_API_URL) means nothing is started. Each case is a fresh
process, as `kqc ingest` is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kqc.flows.server_start import ServerStart, heartbeats_only_where_read

SCRIPT = """
import json
from kqc.flows.server_start import start_embedded_server

started = start_embedded_server()
started.wait()
from prefect.server.api.server import SubprocessASGIServer

servers = {str(k): v.api_url for k, v in SubprocessASGIServer._instances.items() if v.running}
if not servers:
    print(json.dumps({"ahead": started.thread is not None, "servers": {}}))
    raise SystemExit(0)

import httpx
from prefect import flow
from prefect.context import get_run_context


@flow
def where() -> str:
    return str(get_run_context().client.api_url)


health = httpx.get(next(iter(servers.values())) + "/health").status_code
print(json.dumps({"ahead": started.thread is not None, "servers": servers,
                  "health": health, "flow": where()}))
"""


def _run(tmp_path: Path, **env: str) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
            **env,
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_the_flow_runs_on_the_server_started_ahead(tmp_path):
    seen, log = _run(tmp_path)
    assert seen["ahead"] is True
    # Started once, and said so in Prefect's log as a flow's own start does.
    assert log.count("Starting temporary server") == 1, log
    # One server, answering before the flow started, and the flow's client on it.
    assert list(seen["servers"]) == ["None"]
    assert seen["health"] == 200
    assert seen["flow"].rstrip("/") == seen["servers"]["None"]


def test_a_labs_own_server_means_none_is_started(tmp_path):
    seen, _ = _run(tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api")
    assert seen == {"ahead": False, "servers": {}}


def test_runs_on_the_embedded_server_send_no_heartbeats():
    from prefect.settings import get_current_settings

    default = get_current_settings().flows.heartbeat_frequency
    assert default is not None
    with heartbeats_only_where_read(ServerStart(embedded=True)):
        assert get_current_settings().flows.heartbeat_frequency is None
    with heartbeats_only_where_read(ServerStart(embedded=False)):
        assert get_current_settings().flows.heartbeat_frequency == default
    assert get_current_settings().flows.heartbeat_frequency == default
