"""`kqc users`: the console's users (add, list, disable, reset-password).

A password is read from a prompt (asked twice) or, when stdin is not a
terminal, from its first line (for scripts); never from an argument, which
every user of the machine sees in the process list.
"""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from kqc.cli.options import DbOption
from kqc.config.settings import locations
from kqc.core import terminal
from kqc.errors import UsageError

users = typer.Typer(
    no_args_is_help=True,
    help="Console users: add, list, disable, reset-password.",
)


def read_password(prompt: str, *, confirm: bool) -> str:
    """A password from the terminal (twice when `confirm`), else stdin's first line."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise UsageError(
                "no password on stdin: pipe it as the first line, or run in a terminal"
            )
        return line.rstrip("\r\n")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Again: ") != first:
        raise UsageError("the two passwords differ: nothing was changed")
    return first


@users.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The name to sign in with, e.g. a.nguyen.")],
    role: Annotated[
        str,
        typer.Option(
            "--role", help="technician, reviewer, approver, regulator or admin.", show_default=False
        ),
    ],
    full_name: Annotated[
        str | None,
        typer.Option(
            "--full-name",
            help="The name printed on this user's signatures (default: NAME).",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Add a console user; the password is asked for (or read from stdin)."""
    from kqc.core import identity
    from kqc.store.users import add_user

    identity.check_role(role)
    checked = identity.check_name(name)
    password = read_password(f"Password for {checked}: ", confirm=True)
    user = add_user(locations(db).db, checked, full_name or checked, role, password)
    print(terminal.shown(f"added {user.name} ({user.full_name}), {user.role}, user {user.user_id}"))


@users.command("list")
def list_(db: DbOption = None) -> None:
    """The console users, enabled or not."""
    from kqc.store.users import list_users

    found = list_users(locations(db).db)
    if not found:
        print("No users yet: add one with `kqc users add NAME --role ROLE`.")
        return
    print("user_id\tname\tfull_name\trole\tcreated_at\tdisabled_at")
    for u in found:
        disabled = u.disabled_at.isoformat(timespec="seconds") if u.disabled_at else ""
        cells = [
            str(u.user_id),
            u.name,
            u.full_name,
            u.role,
            u.created_at.isoformat(timespec="seconds"),
            disabled,
        ]
        print("\t".join(terminal.shown(c) for c in cells))


@users.command("disable")
def disable(
    name: Annotated[str, typer.Argument(help="The user to disable.")],
    db: DbOption = None,
) -> None:
    """Disable a user: no more sign-ins or signatures; past signatures stand."""
    from kqc.store.users import disable_user

    user = disable_user(locations(db).db, name)
    print(terminal.shown(f"disabled {user.name}"))


@users.command("reset-password")
def reset_password(
    name: Annotated[str, typer.Argument(help="The user whose password is set anew.")],
    db: DbOption = None,
) -> None:
    """Set a user's password anew (asked for, or read from stdin); lifts a lockout."""
    from kqc.store.users import set_password

    user = set_password(locations(db).db, name, read_password("New password: ", confirm=True))
    print(terminal.shown(f"password reset for {user.name}"))
