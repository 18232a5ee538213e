"""`segflow stores ...`"""

from __future__ import annotations

import sys

import click

from schemas.reports import StoreOut
from segflow.cli.common import AppContext, json_option, pass_app, print_json, print_table
from segflow.services import stores as store_service


@click.group()
def stores() -> None:
    """Create and list stores (tenants)."""


@stores.command("create")
@click.argument("store_id")
@click.option("--plan", type=click.Choice(store_service.PLANS), required=True)
@click.option("--name", help="Display name (defaults to the id).")
@json_option
@pass_app
def create(app: AppContext, store_id: str, plan: str, name: str | None, as_json: bool) -> None:
    """Create store STORE_ID on a plan. Segments need pro or custom."""
    with app.db() as conn:
        row = store_service.create(conn, store_id, plan, name)
    out = StoreOut(id=row.id, name=row.name, plan=row.plan, created_at=row.created_at)
    if as_json:
        print_json(out)
    else:
        click.echo(f"created store {out.id} ({out.plan})")


@stores.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List every store."""
    with app.db() as conn:
        rows = store_service.list_all(conn)
    out = [StoreOut(id=r.id, name=r.name, plan=r.plan, created_at=r.created_at) for r in rows]
    if as_json:
        print_json(out)
    elif not out:
        click.echo("no stores yet: segflow stores create STORE --plan pro")
    else:
        print_table(["id", "name", "plan"], [[s.id, s.name, s.plan] for s in out])


@stores.command("set-klaviyo-key")
@click.argument("store_id")
@json_option
@pass_app
def set_klaviyo_key(app: AppContext, store_id: str, as_json: bool) -> None:
    """Save STORE_ID's Klaviyo private API key, read from stdin (not echoed on a terminal).

    The key is never printed, logged or included in --json output.
    """
    interactive = sys.stdin.isatty()
    key = click.prompt("Klaviyo private API key", hide_input=True, err=True) if interactive else sys.stdin.read()
    from segflow.services import klaviyo

    with app.db() as conn:
        klaviyo.set_key(conn, store_id, key)
    if as_json:
        print_json({"store": store_id, "saved": True})
    else:
        click.echo(f"saved the Klaviyo API key for store {store_id}")


@stores.command("token")
@click.argument("store_id")
@click.option("--revoke", "revoke_prefix", metavar="TOKEN_PREFIX", help="Revoke the store's tokens starting with this.")
@json_option
@pass_app
def token(app: AppContext, store_id: str, revoke_prefix: str | None, as_json: bool) -> None:
    """Make an access token for STORE_ID's console and API (shown once), or revoke one."""
    from segflow.services import access

    with app.db() as conn:
        if revoke_prefix is not None:
            revoked = access.revoke(conn, store_id, revoke_prefix)
            if as_json:
                print_json({"store": store_id, "revoked": revoked})
            else:
                click.echo(f"revoked {len(revoked)} token(s) of store {store_id}: {', '.join(revoked)}")
            return
        made = access.new_token(conn, store_id)
    if as_json:
        print_json({"store": made.store_id, "token": made.token})
    else:
        click.echo(made.token)
        click.echo(
            f"the access token for store {store_id}'s console and API; it is not shown again "
            f"(revoke it with `segflow stores token {store_id} --revoke {made.token[: access.NAME_LENGTH]}`)",
            err=True,
        )
