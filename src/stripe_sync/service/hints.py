"""Hints in the service's own words: what to change in the pipeline, not on a command line.

Connectors write hints for the CLI ("check the API key (STRIPE_API_KEY or --api-key)"). Through
the service a pipeline is fixed by editing it (the dashboard's Edit page, or ``PATCH``), so the
API rewrites the hints of the errors it shows to name the pipeline's fields: ``source.config.api_key``,
``destination.config.url``. Errors the CLI gives no hint for but an operator can act on (a
database that does not answer, a database that does not exist) get one. Other hints (a restricted
key's missing permission, a revoked account) are kept as they are.
"""

from __future__ import annotations

from typing import Any

RESUME = "then Resume"
DATABASE_DOWN = ("cannot reach Postgres", "lost the connection to Postgres")


def service_hint(failure_type: str | None, message: str | None, hint: str | None) -> str | None:
    """The hint to show for an error of ``failure_type`` with ``message`` (and the connector's
    ``hint``); None when there is nothing to suggest."""
    text = message or ""
    if failure_type == "auth_error":
        if text.startswith("Postgres refused the credentials"):
            return f"edit the pipeline's destination url (user and password), {RESUME}"
        return f"edit the pipeline's source api_key (a Stripe secret or restricted key), {RESUME}"
    if text.startswith(DATABASE_DOWN):
        return (
            "the destination database does not answer: check that it runs and that the "
            "destination url names its host and port (edit the pipeline); the call is retried "
            "meanwhile"
        )
    if failure_type == "config_error" and text.startswith("Postgres:"):
        return f"create that database, or edit the pipeline's destination url, {RESUME}"
    if failure_type == "config_error" and text.startswith("invalid Postgres URL"):
        return f"edit the pipeline's destination url, {RESUME}"
    return hint


def with_service_hint(error: dict[str, Any] | None) -> dict[str, Any] | None:
    """``error`` (a protocol error payload) with its hint in the service's words."""
    if error is None:
        return None
    hint = service_hint(error.get("failure_type"), error.get("message"), error.get("hint"))
    return {**error, "hint": hint} if hint is not None else error


def reason_hint(reason: str | None) -> str | None:
    """The hint for a parked pipeline's ``reason`` (``"auth_error: Invalid API Key …"``)."""
    if not reason:
        return None
    failure_type, _, message = reason.partition(": ")
    return (
        service_hint(failure_type, message, None) or f"fix the cause (edit the pipeline), {RESUME}"
    )


def reword_view(view: dict[str, Any]) -> dict[str, Any]:
    """A display model (``progress_view.display_model``) with every error's hint reworded."""
    view["error"] = with_service_hint(view.get("error"))
    for row in view.get("rows") or []:
        row["errors"] = [with_service_hint(e) for e in row.get("errors") or []]
    for account in view.get("accounts") or []:
        account["last_error"] = with_service_hint(account.get("last_error"))
        for row in account.get("streams") or []:
            row["errors"] = [with_service_hint(e) for e in row.get("errors") or []]
    return view
