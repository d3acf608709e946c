"""Alert delivery: a webhook (JSON body with Slack-compatible ``text``), SMTP email, or a file."""

from __future__ import annotations

import json
import os
import smtplib
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

__all__ = ["notify", "alert_text", "CHANNELS"]

CHANNELS = ("webhook", "email", "file")


def alert_text(event: Mapping[str, Any]) -> str:
    """One line a person reads in Slack or an email subject.

    Example:
        >>> alert_text({"event": "firing", "monitor": "prod", "metric": "error_rate", "value": 0.12,
        ...     "target": "<= 0.05", "ci_low": 0.08, "ci_high": 0.17, "period": "2026-01-03", "group": ""})
        ':red_circle: [prod] error_rate = 0.12 (95% CI 0.08-0.17) misses target <= 0.05 in period 2026-01-03'
    """
    icon = ":red_circle:" if event["event"] == "firing" else ":large_green_circle:"
    verb = "misses target" if event["event"] == "firing" else "meets target again"
    ci = ""
    if event.get("ci_low") is not None and event.get("ci_high") is not None:
        ci = f" (95% CI {float(event['ci_low']):.3g}-{float(event['ci_high']):.3g})"
    grp = f" {event['group']}" if event.get("group") else ""
    return (f"{icon} [{event['monitor']}]{grp} {event['metric']} = {float(event['value']):.3g}{ci} {verb} "
            f"{event['target']} in period {event['period']}")


def notify(channel: Mapping[str, Any], event: Mapping[str, Any], *, timeout_s: float = 10.0) -> None:
    """Deliver one alert event to one channel; raises on failure (the event stays queued).

    ``channel`` is ``{"webhook": URL, "headers": {...}}``, ``{"email": {"host", "port", "from",
    "to", "user", "password_env", "starttls"}}`` or ``{"file": PATH}`` (one JSON line appended).
    The body is the event itself plus ``text`` (Slack incoming webhooks show it as is); its
    ``event_id`` is stable, so a receiver can drop a repeat delivery after a crash.

    Example:
        >>> import tempfile, os, json
        >>> p = os.path.join(tempfile.mkdtemp(), "alerts.jsonl")
        >>> notify({"file": p}, {"event_id": "e1", "event": "resolved", "monitor": "m", "metric": "error_rate",
        ...     "value": 0.01, "target": "<= 0.05", "period": "2026-01-04"})
        >>> json.loads(open(p).read())["event_id"]
        'e1'
    """
    body = {**event, "text": alert_text(event)}
    kinds = [k for k in CHANNELS if k in channel]
    if len(kinds) != 1:
        raise ValueError(f"notify channel {dict(channel)!r} must have exactly one of {list(CHANNELS)}; "
                         "e.g. {'webhook': 'https://hooks.slack.com/services/...'}")
    kind = kinds[0]
    if kind == "webhook":
        data = json.dumps(body, default=str).encode()
        headers = {"Content-Type": "application/json", **dict(channel.get("headers") or {})}
        req = urllib.request.Request(str(channel["webhook"]), data=data, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (configured URL)
            if resp.status >= 300:
                raise OSError(f"webhook {channel['webhook']} answered {resp.status}")
    elif kind == "file":
        p = Path(str(channel["file"]))
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "a", encoding="utf-8") as f:
            f.write(json.dumps(body, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
    else:
        cfg = channel["email"]
        to = cfg["to"] if isinstance(cfg["to"], (list, tuple)) else [cfg["to"]]
        msg = EmailMessage()
        msg["Subject"] = body["text"]
        msg["From"] = cfg.get("from", "llmops-nb@localhost")
        msg["To"] = ", ".join(to)
        msg["Message-ID"] = f"<{event['event_id']}@llmops-nb>"
        msg.set_content(body["text"] + "\n\n" + json.dumps(body, indent=2, default=str))
        with smtplib.SMTP(cfg.get("host", "127.0.0.1"), int(cfg.get("port", 25)), timeout=timeout_s) as s:
            if cfg.get("starttls"):
                s.starttls()
            if cfg.get("user"):
                env = cfg.get("password_env", "SMTP_PASSWORD")
                if env not in os.environ:
                    raise KeyError(f"email channel: set the environment variable {env} to the SMTP password of {cfg['user']}")
                s.login(cfg["user"], os.environ[env])
            s.send_message(msg)
