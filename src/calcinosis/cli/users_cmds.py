"""`calcinosis users ...`: the people who may sign in to the registry's pages and REST API.

Users live in the registry database (CALCINOSIS_DATABASE_URL, default the SQLite file), so run
`calcinosis registry init` first. Passwords are asked twice without echo, or read from standard
input with --password-stdin (one line) for scripts; they are never accepted as an argument,
where `ps` and shell history would show them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from calcinosis.cli.registry_cmds import actor

if TYPE_CHECKING:
    from calcinosis.registry.accounts import Accounts

app = typer.Typer(
    help="Users of the registry's web pages and REST API (roles clinician and admin).",
    no_args_is_help=True,
)


class Role(StrEnum):
    clinician = "clinician"
    admin = "admin"


PASSWORD_STDIN = typer.Option(
    "--password-stdin", help="Read the password from standard input (one line) instead of asking."
)


@contextlib.contextmanager
def _accounts() -> Iterator[Accounts]:
    from calcinosis.registry.accounts import Accounts
    from calcinosis.registry.service import Registry

    with Registry.open() as registry:
        yield Accounts(registry)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password"))


@app.command()
def add(
    username: Annotated[str, typer.Argument(help="Sign-in name, e.g. dr.rao (lower case).")],
    role: Annotated[Role, typer.Option("--role", help="clinician or admin.")] = Role.clinician,
    password_stdin: Annotated[bool, PASSWORD_STDIN] = False,
) -> None:
    """Add a user who can sign in (password at least 12 characters)."""
    password = _password(password_stdin)
    with _accounts() as accounts:
        user = accounts.add_user(username, password, role=role.value, actor=actor())
    typer.echo(f"added user {user.username} ({user.role})")


@app.command()
def disable(username: Annotated[str, typer.Argument(help="The user to lock out.")]) -> None:
    """Lock a user out now: their sessions and API token stop working at the next request."""
    with _accounts() as accounts:
        user = accounts.set_disabled(username, True, actor=actor())
    typer.echo(f"disabled user {user.username}; their sessions and API token no longer work")


@app.command()
def enable(username: Annotated[str, typer.Argument(help="A disabled user.")]) -> None:
    """Let a disabled user sign in again (an API token must be issued anew)."""
    with _accounts() as accounts:
        user = accounts.set_disabled(username, False, actor=actor())
    typer.echo(f"enabled user {user.username}")


@app.command()
def password(
    username: Annotated[str, typer.Argument(help="The user whose password to set.")],
    password_stdin: Annotated[bool, PASSWORD_STDIN] = False,
) -> None:
    """Set a new password for a user."""
    new = _password(password_stdin)
    with _accounts() as accounts:
        user = accounts.set_password(username, new, actor=actor())
    typer.echo(f"password of {user.username} changed")


@app.command()
def token(
    username: Annotated[str, typer.Argument(help="The user the token acts as.")],
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Remove the user's token instead of issuing one.")
    ] = False,
) -> None:
    """Issue an API token (printed once; replaces the user's earlier token), or --revoke it.

    Scripts send it as `Authorization: Bearer TOKEN` to /api/registry/..."""
    with _accounts() as accounts:
        if revoke:
            user = accounts.revoke_token(username, actor=actor())
            typer.echo(f"API token of {user.username} revoked")
            return
        issued = accounts.issue_token(username, actor=actor())
    typer.echo("The token is shown once; store it now. It replaces any earlier token.", err=True)
    typer.echo(issued)


@app.command("list")
def list_users() -> None:
    """The users, their role, whether they are enabled and hold an API token."""
    with _accounts() as accounts:
        users = accounts.users()
    console = Console(highlight=False)
    if not users:
        console.print("No users yet; add one with `calcinosis users add USERNAME`.")
        return
    table = Table()
    for column in ("username", "role", "status", "API token", "created"):
        table.add_column(column, no_wrap=column != "username", overflow="fold")
    for user in users:
        table.add_row(
            user.username,
            user.role,
            "disabled" if user.disabled else "enabled",
            "yes" if user.has_api_token else "no",
            user.created_at.date().isoformat(),
        )
    console.print(table)
