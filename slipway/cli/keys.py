"""`slipway keys …`: create (printed once), list, revoke, rotate-master."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from slipway.cli.output import Output, OutputOpt, ago, console, emit, err_console, table
from slipway.cli.state import client
from slipway.errors import InvalidArgument

app = typer.Typer(help="API keys: create, list, revoke; dashboard sign-in links; rotate the master key.",
                  no_args_is_help=True)


def read_policy(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise InvalidArgument(f"Cannot read policy file {str(path)!r}: {exc.strerror}.", {"field": "policy"}) from None
    except ValueError as exc:
        raise InvalidArgument(f"Policy file {str(path)!r} is not valid JSON: {exc}.", {"field": "policy"}) from None
    if not isinstance(data, dict):
        raise InvalidArgument(f'Policy file {str(path)!r} must hold an object {{"Statement": [...]}}.',
                              {"field": "policy"})
    return data


@app.command("create")
def create(
    ctx: typer.Context,
    user: str = typer.Option(None, "--user", "-u", help="Owner of the key (default: yourself)."),
    expires: str = typer.Option(None, "--expires", help="Lifetime such as 30d, 12h or 90m (default: none)."),
    policy: Path = typer.Option(None, "--policy", help="JSON policy narrower than the user's role."),
    description: str = typer.Option("", "--description", "-d"),
    aws: bool = typer.Option(False, "--aws", help="An AWS access key id + secret for boto3 and the SageMaker SDK."),
    output: Output = OutputOpt,
) -> None:
    """Create an API key. The key is printed once and never shown again."""
    doc = read_policy(policy) if policy else None
    k = client(ctx).keys.create(user=user, expires=expires, policy=doc, description=description, aws=aws)

    def render() -> None:
        if aws:
            console.print(f"AWS_ACCESS_KEY_ID={k.key_id}\nAWS_SECRET_ACCESS_KEY={k.key}", highlight=False, soft_wrap=True)
            err_console.print(f"[dim]AWS access key for {k.user}. Store the secret now: it is not shown again. Point "
                              "boto3 at this server with AWS_ENDPOINT_URL (docs/sagemaker.md).[/dim]")
            return
        console.print(k.key, highlight=False, soft_wrap=True)
        when = k.expires_at.isoformat(timespec="seconds") if k.expires_at else "never"
        err_console.print(f"[dim]key {k.key_id} for {k.user}, expires {when}. Store it now: it is not shown again "
                          "(slipway login --url URL --key KEY).[/dim]")

    emit(k, output, render)


@app.command("signin-link")
def signin_link(
    ctx: typer.Context,
    user: str = typer.Option(None, "--user", "-u", help="Who signs in (default: yourself)."),
    output: Output = OutputOpt,
) -> None:
    """Print a one-time link that signs a browser in to the dashboard (valid 15 minutes, usable once)."""
    url, k = client(ctx).keys.signin_link(user=user)

    def render() -> None:
        console.print(url, highlight=False, soft_wrap=True)
        err_console.print(f"[dim]one-time sign-in link for {k.user}, valid until "
                          f"{k.expires_at.isoformat(timespec='seconds') if k.expires_at else '-'}.[/dim]")

    emit({"url": url, "user": k.user, "key_id": k.key_id, "expires_at": k.expires_at}, output, render)


@app.command("list")
def list_(ctx: typer.Context, user: str = typer.Option(None, "--user", "-u"), output: Output = OutputOpt) -> None:
    """List keys (ids and state only; a key's secret is never shown again)."""
    items = list(client(ctx).keys.iter(user=user))
    emit(items, output, lambda: table(None, ["key id", "user", "state", "policy", "expires", "last used", "created",
                                             "description"], [
        [k.key_id, k.user, k.status, "narrowed" if k.policy else "role", k.expires_at.isoformat(timespec="minutes")
         if k.expires_at else "never", ago(k.last_used_at) or "never", ago(k.created_at), k.description]
        for k in items]))


@app.command("revoke")
def revoke(ctx: typer.Context, key_id: str = typer.Argument(..., help="The key id shown by `slipway keys list`."),
           output: Output = OutputOpt) -> None:
    """Revoke a key; it stops working at once."""
    k = client(ctx).keys.revoke(key_id)
    emit(k, output, lambda: console.print(f"revoked {k.key_id} ({k.user})"))


@app.command("rotate-master")
def rotate_master(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Re-wrap every data key under a new master key (the data itself is not rewritten)."""
    r = client(ctx).keys.rotate_master()
    emit(r, output, lambda: console.print(
        f"master key is now {r.master_key}; re-wrapped {r.rewrapped_objects} artifact keys and "
        f"{r.rewrapped_secrets} secret keys. Back up the new <home>/master.key."))
