"""The Alertmanager configuration: llmops alerts routed to the receivers a team uses.

kube-prometheus-stack deploys Alertmanager (v0.34.0 at the pinned chart) and renders ``alertmanager.config``
into its configuration, merged over the chart's default map: the config here sets every key that default sets
(the fact table lists them), so what Alertmanager reads is exactly this. Alerts labelled ``incident: "true"``
(the risk alerts, rollout aborts, overdue reviews: ``render.risk``) go to the incident receiver, which fans out
to each receiver configured under ``stacks.observability.alerting``: a webhook (incident automation, e.g.
`llmops govern incident serve`), GitHub issues (through a webhook bridge), Jira (Alertmanager's own
integration, >= 0.28) and e-mail. Other llmops alerts go to the webhook and e-mail. The chart's Watchdog alert
keeps its null route.

Credentials never enter the tree: they are keys of one Secret you create (``alerting.secret``), mounted into
the Alertmanager pods at ``/etc/alertmanager/secrets/<secret>/`` (prometheus-operator's secretsDir) and read
through the ``*_file`` settings.
"""

from __future__ import annotations

from typing import Any

from llmops_cli.config.model import AlertingSettings, WebhookReceiver

INCIDENT_RECEIVER = "llmops-incidents"
NOTIFY_RECEIVER = "llmops-notify"
SECRETS_DIR = "/etc/alertmanager/secrets"
# The chart's default inhibition rules (kube-prometheus-stack values.yaml alertmanager.config.inhibit_rules) are
# kept in spirit: a critical alert silences the warning of the same alert and namespace.
INHIBIT_RULES = [
    {
        "source_matchers": ["severity = critical"],
        "target_matchers": ["severity =~ warning|info"],
        "equal": ["namespace", "alertname"],
    },
    {
        "source_matchers": ["severity = warning"],
        "target_matchers": ["severity = info"],
        "equal": ["namespace", "alertname"],
    },
]


def needs_secret(a: AlertingSettings) -> bool:
    return bool(
        (a.webhook and a.webhook.bearer_token_key)
        or (a.github and a.github.bearer_token_key)
        or a.jira
        or (a.email and a.email.password_key)
    )


def _secret_file(a: AlertingSettings, key: str) -> str:
    return f"{SECRETS_DIR}/{a.secret}/{key}"


def _webhook(a: AlertingSettings, w: WebhookReceiver) -> dict[str, Any]:
    out: dict[str, Any] = {"url": w.url, "send_resolved": True, "max_alerts": 50}
    if w.bearer_token_key:
        out["http_config"] = {"authorization": {"credentials_file": _secret_file(a, w.bearer_token_key)}}
    return out


def _email(a: AlertingSettings) -> dict[str, Any]:
    e = a.email
    assert e is not None
    out: dict[str, Any] = {
        "to": e.to,
        "from": e.sender,
        "smarthost": e.smarthost,
        "require_tls": e.require_tls,
        "send_resolved": True,
    }
    if e.username:
        out["auth_username"] = e.username
    if e.password_key:
        out["auth_password_file"] = _secret_file(a, e.password_key)
    return out


def _jira(a: AlertingSettings) -> dict[str, Any]:
    j = a.jira
    assert j is not None
    out: dict[str, Any] = {
        "api_url": j.api_url,
        "project": j.project,
        "issue_type": j.issue_type,
        "labels": list(j.labels),
        "summary": '{{ template "jira.default.summary" . }}',
        "description": '{{ template "jira.default.description" . }}',
        "send_resolved": True,
        "http_config": {"basic_auth": {"username": j.username, "password_file": _secret_file(a, j.api_token_key)}},
    }
    if j.priority:
        out["priority"] = j.priority
    return out


def alertmanager_config(a: AlertingSettings) -> dict[str, Any]:
    incident: dict[str, Any] = {"name": INCIDENT_RECEIVER}
    notify: dict[str, Any] = {"name": NOTIFY_RECEIVER}
    hooks = [_webhook(a, w) for w in (a.webhook, a.github) if w is not None]
    if hooks:
        incident["webhook_configs"] = hooks
    if a.webhook:
        notify["webhook_configs"] = [_webhook(a, a.webhook)]
    if a.email:
        incident["email_configs"] = [_email(a)]
        notify["email_configs"] = [_email(a)]
    if a.jira:
        incident["jira_configs"] = [_jira(a)]
    return {
        "global": {"resolve_timeout": "5m"},
        "inhibit_rules": INHIBIT_RULES,
        "route": {
            "receiver": "null",
            "group_by": ["alertname", "namespace", "model", "model_version", "served_model"],
            "group_wait": a.group_wait,
            "group_interval": a.group_interval,
            "repeat_interval": a.repeat_interval,
            "routes": [
                {"receiver": "null", "matchers": ['alertname = "Watchdog"']},
                {"receiver": INCIDENT_RECEIVER, "matchers": ['team = "llmops"', 'incident = "true"']},
                {"receiver": NOTIFY_RECEIVER, "matchers": ['team = "llmops"']},
            ],
        },
        "receivers": [{"name": "null"}, incident, notify],
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }
