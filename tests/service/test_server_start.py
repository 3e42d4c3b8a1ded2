"""Prefect's embedded server started ahead of the flow (src/kqc/service/server_start.py):
the flow run must use that server, not start a second, without loading
Prefect's server code in the flow's process; the server ends with the
process; and a lab's own server (PREFECT_API_URL) means nothing is started.
Each case is a fresh process, as `kqc ingest` is."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kqc.service.server_start import ServerStart, heartbeats_off, heartbeats_only_where_read

SCRIPT = """
import json
import os
import sys
from kqc.service.server_start import start_embedded_server

started = start_embedded_server()
started.wait()


def uvicorn_children() -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read()
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and b"uvicorn" in cmd:
            found.append(int(pid))
    return found


if not started.embedded:
    print(json.dumps({"embedded": False, "pids": uvicorn_children()}))
    raise SystemExit(0)

import httpx
from prefect import flow
from prefect.context import get_run_context


@flow
def where() -> str:
    return str(get_run_context().client.api_url)


url = where().rstrip("/")
# Prefect's own server object, only where Prefect started the server itself
# (its code is then loaded in this process; it is not imported otherwise).
prefects = sys.modules.get("prefect.server.api.server")
servers = {} if prefects is None else {
    str(k): v.api_url for k, v in prefects.SubprocessASGIServer._instances.items() if v.running
}
print(json.dumps({"embedded": True, "taken_over": started.api_url, "flow": url,
                  "health": httpx.get(url + "/health").status_code,
                  "pids": uvicorn_children(), "early": started.early_pid,
                  "servers": servers, "server_code_loaded": prefects is not None}))
"""


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Prefect home for the module's processes, none of them the user's:
    the embedded server's first start in a home migrates its database (20 s
    on two cores), and the cases need not each pay for it."""
    return tmp_path_factory.mktemp("prefect-home")


def _run(
    tmp_path: Path, home: Path, prelude: str = "", script: str = SCRIPT, **env: str
) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-c", prelude + script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            # a lab's server in the caller's environment is no case of this module's
            **{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
            **env,
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_the_flow_runs_on_the_server_started_ahead(tmp_path, prefect_home):
    seen, log = _run(tmp_path, prefect_home)
    # Started once, and said so in Prefect's log as a flow's own start does,
    # with no link to a UI the embedded server does not serve.
    assert log.count("Starting temporary server") == 1, log
    assert "View at" not in log, log
    # One server, answering, and the flow's client on it: the one launched
    # early, taken over without loading Prefect's server code here.
    assert seen["health"] == 200
    assert seen["flow"] == seen["taken_over"]
    assert seen["pids"] == [seen["early"]]
    assert seen["servers"] == {} and seen["server_code_loaded"] is False
    # Stopped at exit, as Prefect stops its own.
    assert log.count("Stopping temporary server") == 1, log
    assert not Path(f"/proc/{seen['early']}").exists()


def test_a_failed_early_launch_leaves_the_start_to_prefect(tmp_path, prefect_home):
    prelude = (
        "import kqc.service.server_start as s\n"
        "def _fail():\n"
        "    raise OSError('no process for you')\n"
        "s._launch = _fail\n"
    )
    seen, log = _run(tmp_path, prefect_home, prelude)
    assert log.count("Starting temporary server") == 1, log
    assert seen["health"] == 200 and len(seen["pids"]) == 1 and seen["early"] is None
    assert seen["taken_over"] is None
    assert seen["flow"] == seen["servers"]["None"]


def test_an_early_server_whose_port_was_taken_is_launched_again(tmp_path, prefect_home):
    """Exit code 3 is uvicorn's 'could not start' (a port taken meanwhile):
    another port, as Prefect's own start does."""
    prelude = (
        "import subprocess, sys\n"
        "import kqc.service.server_start as s\n"
        "real = s._launch\n"
        "calls = []\n"
        "def _taken():\n"
        "    calls.append(1)\n"
        "    if len(calls) > 1:\n"
        "        return real()\n"
        "    return subprocess.Popen([sys.executable, '-c', 'raise SystemExit(3)',"
        " '--port', '9'])\n"
        "s._launch = _taken\n"
    )
    seen, log = _run(tmp_path, prefect_home, prelude)
    assert log.count("Starting temporary server") == 1, log
    assert seen["health"] == 200 and len(seen["pids"]) == 1
    assert seen["pids"] != [seen["early"]]
    assert seen["flow"] == seen["taken_over"] and ":9/" not in seen["flow"]
    assert seen["server_code_loaded"] is False


def test_the_early_server_dies_with_a_killed_kqc(tmp_path, prefect_home):
    """A kill -9 runs no exit hook: the server is sent SIGTERM by the kernel
    when the process that launched it dies."""
    script = (
        "import os, signal\n"
        "from kqc.service.server_start import start_embedded_server\n"
        "started = start_embedded_server()\n"
        "started.wait()\n"
        "print(started.early_pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        },
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped by whoever adopted it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_labs_own_server_means_none_is_started(tmp_path, prefect_home):
    seen, _ = _run(tmp_path, prefect_home, PREFECT_API_URL="http://127.0.0.1:9/api")
    assert seen == {"embedded": False, "pids": []}


def test_a_labs_own_server_named_in_a_profile_leaves_no_server_behind(tmp_path):
    """The environment names no server, so one is launched before Prefect
    loads; Prefect's profile names the lab's own, so it is stopped unused."""
    home = tmp_path / "prefect"
    home.mkdir()
    (home / "profiles.toml").write_text(
        'active = "lab"\n[profiles.lab]\nPREFECT_API_URL = "http://127.0.0.1:9/api"\n'
    )
    script = (
        "import json, os\n"
        "from kqc.service.server_start import start_embedded_server\n"
        "started = start_embedded_server()\n"
        "children = [p for p in os.listdir('/proc') if p.isdigit()"
        " and open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1] == str(os.getpid())]\n"
        "print(json.dumps({'embedded': started.embedded, 'children': children}))\n"
    )
    seen, _ = _run(tmp_path, home, script=script)
    assert seen == {"embedded": False, "children": []}


def test_runs_on_the_embedded_server_send_no_heartbeats():
    from prefect.settings import get_current_settings

    default = get_current_settings().flows.heartbeat_frequency
    assert default is not None
    with heartbeats_only_where_read(ServerStart(embedded=True)):
        assert get_current_settings().flows.heartbeat_frequency is None
    with heartbeats_only_where_read(ServerStart(embedded=False)):
        assert get_current_settings().flows.heartbeat_frequency == default
    assert get_current_settings().flows.heartbeat_frequency == default
    with heartbeats_off(True):
        assert get_current_settings().flows.heartbeat_frequency is None
    with heartbeats_off(False):
        assert get_current_settings().flows.heartbeat_frequency == default


def test_the_early_launch_is_prefects_own_command(tmp_path, prefect_home):
    """The server launched before Prefect's server code loads is launched as
    SubprocessASGIServer launches it (a Prefect upgrade that changes the
    command fails here, not in a lab). In a fresh process, as `kqc ingest`
    starts: no test harness's settings in force."""
    seen, _ = _run(tmp_path, prefect_home, script=OWN_COMMAND)
    assert seen["ours_args"] == seen["theirs_args"]
    # Prefect also hands down the settings its process holds; launched before
    # Prefect loads, the server must read the same ones itself (from the same
    # environment and profile).
    ours, theirs = seen["ours_env"], seen["theirs_env"]
    handed_down = {k: v for k, v in theirs.items() if ours.get(k) != v}
    assert set(ours) <= set(theirs)
    assert all(k.startswith("PREFECT_") for k in handed_down)
    read = subprocess.run(
        [sys.executable, "-c", READ_SETTINGS],
        cwd=tmp_path,
        env=ours,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    read_itself = json.loads(read.stdout.strip().splitlines()[-1])
    assert {k: read_itself.get(k) for k in handed_down} == handed_down


OWN_COMMAND = """
import json
from kqc.service import server_start
from prefect.server.api import server as prefect_server

launched = []
real = prefect_server.subprocess.Popen
prefect_server.subprocess.Popen = lambda args, env, **_: launched.append((args, dict(env)))
prefect_server.SubprocessASGIServer(port=8123)._run_uvicorn_command()
prefect_server.subprocess.Popen = real
((theirs_args, theirs_env),) = launched
print(json.dumps({"ours_args": server_start._uvicorn_args(8123),
                  "theirs_args": [str(a) for a in theirs_args],
                  "ours_env": server_start._server_env(), "theirs_env": theirs_env}))
"""


READ_SETTINGS = """
import json
from prefect.settings import get_current_settings

print(json.dumps(get_current_settings().to_environment_variables(exclude_unset=False)))
"""


def test_the_embedded_mode_switched_off_in_the_environment_launches_nothing(monkeypatch):
    from kqc.service import server_start

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "false")
    assert not server_start._may_be_wanted()
    monkeypatch.setenv("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
    assert server_start._may_be_wanted()
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert not server_start._may_be_wanted()
