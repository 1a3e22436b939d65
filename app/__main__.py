"""Command line: ``serve``, ``migrate``, ``token create``, ``export-schema``."""

from __future__ import annotations

import argparse
import asyncio
import sys

ROLES = {"system-admin": "SYSTEM_ADMIN", "company-admin": "COMPANY_ADMIN", "user": "USER"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phonegraph", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="apply migrations, then serve HTTP and WebSocket")
    sub.add_parser("migrate", help="apply migrations and exit")
    sub.add_parser("export-schema", help="print the GraphQL SDL")
    token = sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a token and print its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=sorted(ROLES))
    create.add_argument("--company", help="company id (global or numeric) for company-admin")
    create.add_argument("--sip-user", help="SIP user id (global or numeric) for user")
    create.add_argument(
        "--create-database",
        action="store_true",
        help="create the configured database when it does not exist yet (normally the "
        "token goes into the database the server already uses)",
    )
    mk = sub.add_parser("make-migration", help="(developers) write a migration for model changes")
    mk.add_argument("name", nargs="?", default="update")
    mk.add_argument(
        "--squash", action="store_true", help="replace all migrations by one initial migration"
    )
    return parser


def _pk(value: str | None, type_name: str) -> int | None:
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    from app.core.ids import parse_global_id

    parsed = parse_global_id(value)
    if parsed is None or parsed[0] != type_name:
        raise SystemExit(f"not a {type_name} id: {value}")
    return parsed[1]


async def _token_create(args: argparse.Namespace) -> None:
    from tortoise import Tortoise

    from app.core.auth import create_token
    from app.core.models import Company, Role
    from app.db import database_problem, describe_database, migrate, tortoise_config
    from app.pbx.models import SipUser
    from app.settings import get_settings

    settings = get_settings()
    if not args.create_database:
        problem = await database_problem()
        if problem is not None:
            raise SystemExit(
                f"No PhoneGraph database: {problem}.\n"
                "A token stored in a new database would be unknown to the server. Give this "
                "command the server's settings (PHONEGRAPH_DATABASE_URL, or PHONEGRAPH_DATA_DIR; "
                f"the data folder now is {settings.data_dir}), or start the server once, "
                "or pass --create-database to create that database here."
            )
    await migrate()
    await Tortoise.init(config=tortoise_config())
    try:
        role = Role(ROLES[args.role])
        company_id = _pk(args.company, "Company")
        sip_user_id = _pk(args.sip_user, "SipUser")
        if role == Role.COMPANY_ADMIN:
            if company_id is None or not await Company.exists(id=company_id):
                raise SystemExit("--company must name an existing company for company-admin")
        if role == Role.USER:
            user = await SipUser.get_or_none(id=sip_user_id or 0).prefetch_related("domain")
            if user is None:
                raise SystemExit("--sip-user must name an existing SIP user for user")
            company_id = user.domain.company_id  # type: ignore[attr-defined]
        _, secret = await create_token(
            args.name,
            role,
            company_id=company_id if role != Role.SYSTEM_ADMIN else None,
            sip_user_id=sip_user_id if role == Role.USER else None,
        )
        print(secret)
        print(
            f"(stored in {describe_database(settings.database_url)}; shown only this once)",
            file=sys.stderr,
        )
    finally:
        await Tortoise.close_connections()


def _serve() -> None:
    from app.db import migrate
    from app.settings import get_settings
    from app.web import serve

    settings = get_settings()
    applied = asyncio.run(migrate())
    if applied:
        print(f"applied migrations: {', '.join(applied)}", file=sys.stderr)
    url = f"http://{settings.host}:{settings.port}/graphql"
    print(
        f"PhoneGraph on {url} (GraphiQL in a browser).\n"
        "Get an admin token with:  phonegraph token create --name me --role system-admin\n"
        "(from a checkout: .venv/bin/python -m app token create ...)\n"
        "or start with PHONEGRAPH_BOOTSTRAP_TOKEN=<a secret of your choice>.",
        file=sys.stderr,
        flush=True,
    )
    serve(settings)


def main(argv: list[str] | None = None) -> None:
    from app.db import DatabaseUnusable

    args = _parser().parse_args(argv)
    try:
        _run(args)
    except DatabaseUnusable as exc:
        raise SystemExit(f"phonegraph: {exc}") from None


def _run(args: argparse.Namespace) -> None:
    if args.command == "serve":
        _serve()
    elif args.command == "migrate":
        from app.db import migrate

        applied = asyncio.run(migrate())
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    elif args.command == "export-schema":
        from app.schema import schema

        print(schema.as_str())
    elif args.command == "token":
        asyncio.run(_token_create(args))
    elif args.command == "make-migration":
        from app.migration_maker import main as make

        make(args.name, args.squash)


if __name__ == "__main__":
    main()
