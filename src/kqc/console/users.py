"""The users page (admins): every console user with their role and whether
they may still sign in; add a user with a role and a first password,
disable one, or give one a new password (which also lifts a lockout).
The password rules are kqc.core.identity's (21 CFR 11.300(b): passwords
kept and revised under control); a user disabled or given a new password is
signed out of every session at once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kqc.console.access import Viewer, guarded
from kqc.core.identity import ROLES
from kqc.errors import UsageError
from kqc.store.users import add_user, disable_user, list_users, set_password


@guarded("manage_users")
async def users_page(request: Request, viewer: Viewer) -> Response:
    found = await viewer.console.call(list_users, viewer.console.where.db)
    return viewer.page("users.html", users=found, roles=ROLES)


@guarded("manage_users")
async def add(request: Request, viewer: Viewer) -> Response:
    name, role = viewer.field("name"), viewer.field("role")
    try:
        made = await viewer.console.call(
            add_user,
            viewer.console.where.db,
            name,
            viewer.field("full_name"),
            role,
            viewer.field("password"),
        )
    except UsageError as refused:
        return viewer.back("/users", f"not added: {refused}", "error")
    return viewer.back("/users", f"added {made.name} ({made.full_name}) as {made.role}")


@guarded("manage_users")
async def disable(request: Request, viewer: Viewer) -> Response:
    name = request.path_params["name"]
    if name == viewer.user.name:
        return viewer.back("/users", "you cannot disable yourself: ask another admin", "error")
    try:
        done = await viewer.console.call(disable_user, viewer.console.where.db, name)
    except UsageError as refused:
        return viewer.back("/users", f"not disabled: {refused}", "error")
    viewer.console.sessions.end_user(done.user_id)
    return viewer.back("/users", f"disabled {done.name}: they can no longer sign in or sign")


@guarded("manage_users")
async def reset_password(request: Request, viewer: Viewer) -> Response:
    name = request.path_params["name"]
    try:
        done = await viewer.console.call(
            set_password, viewer.console.where.db, name, viewer.field("password")
        )
    except UsageError as refused:
        return viewer.back("/users", f"password not changed: {refused}", "error")
    if done.user_id != viewer.user.user_id:
        viewer.console.sessions.end_user(done.user_id)
    return viewer.back("/users", f"new password set for {done.name}")
