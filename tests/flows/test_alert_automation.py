"""The worked automation in docs/operations.md ("Alerts on critical
findings") is one Prefect takes, and it fires on a critical finding's event
as kqc sends it, and on nothing less severe; its message renders."""

import re
from pathlib import Path

import yaml

from kqc.pipeline.events import FLAG_OPENED, flag_opened
from kqc.store.run_events import OpenedFlag

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def documented_automation() -> dict:
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text.split("## Alerts on critical findings", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"^```yaml\n(.*?)^```", section, re.M | re.S)
    return yaml.safe_load(block)


def finding(severity: str) -> OpenedFlag:
    return OpenedFlag(
        flag_id="c49ffd3366fa9b26",
        batch_id="EV-001",
        rule="heavy_metal",
        analyte="lead",
        severity=severity,
        profile="default",
        observed=2.5,
        limit_value=1.2,
        unit="ug/g",
        status="open",
        message="lead 2.5 ug/g is at or over the limit of 1.2 ug/g",
        reopened=False,
    )


def test_the_documented_automation_matches_critical_findings_only():
    from prefect.events import Event
    from prefect.events.schemas.automations import AutomationCore, EventTrigger
    from prefect.server.utilities.user_templates import (
        render_user_template_sync,
        validate_user_template,
    )

    automation = AutomationCore.model_validate(documented_automation())
    trigger = automation.trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.expect == {FLAG_OPENED}

    def event(severity: str) -> Event:
        spec = flag_opened(finding(severity))
        return Event(
            event=spec.event, resource=spec.resource, payload=spec.payload, related=spec.related
        )

    assert trigger.match.matches(event("critical").resource)
    assert not trigger.match.matches(event("major").resource)

    [action] = automation.actions
    assert action.type == "send-notification"
    context = {"event": event("critical")}
    for template in (action.subject, action.body):
        validate_user_template(template)
    assert render_user_template_sync(action.subject, context) == (
        "kqc: critical finding on batch EV-001"
    )
    body = render_user_template_sync(action.body, context)
    assert body.startswith("lead 2.5 ug/g is at or over the limit of 1.2 ug/g (rule heavy_metal")
    assert "2.5 ug/g against 1.2, profile default; flag c49ffd3366fa9b26)" in body
    assert "reopened" not in body
    reopened = event("critical").model_copy(
        update={"payload": {**event("critical").payload, "reopened": True}}
    )
    assert ", reopened;" in render_user_template_sync(action.body, {"event": reopened})
