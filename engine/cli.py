"""The `jxc` command line: written for admins, not programmers. Every error is a message, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import pluggy

from dsl.dump import dump_app, to_yaml
from dsl.formula.catalog import Catalog
from dsl.formula.checker import Checker
from dsl.formula.context import SimpleContext
from dsl.formula.errors import FormulaError, FormulaRuntimeError
from dsl.formula.parser import parse
from dsl.formula.pycompile import compile_python
from dsl.formula.runtime import to_text
from dsl.formula.sqlcompile import NoSqlForm, sql_form_missing
from dsl.formula.sqlsupport import translate_database_error
from dsl.problems import CheckFailed, did_you_mean
from dsl.summary import summary
from engine import plugins as plugin_support

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 70


class UserError(Exception):
    """A mistake in what the user asked for; printed as is."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jxc",
        description="jxc builds purchase, sales and inventory (进销存) apps from YAML definitions.",
        epilog="Run 'jxc COMMAND --help' for the details of one command.",
    )
    parser.add_argument("--version", action="version", version="jxc 0.1.0")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = commands.add_parser(
        "check", help="check an app's YAML files and show a summary, or every problem with its place",
        description="Check an app (its folder under apps/) and the modules it includes. Prints a summary when "
                    "everything is right, or every problem as file:line:column: message.")
    check.add_argument("app", metavar="APP", help="the app's folder, e.g. apps/food")
    check.add_argument("--print", action="store_true", dest="print_app",
                       help="also print the assembled app (all modules merged) as YAML")

    formula = commands.add_parser(
        "formula", help="try a formula and see its value and type before saving it",
        description="Evaluate a formula. Without --app it can only use constants and functions; with --app and "
                    "--entity it can use that entity's fields, filled in from --record.",
        epilog='Example: jxc formula "qty * price" --app apps/food --entity sales_order_lines '
               '--record \'{"qty": 2, "price": "3.10"}\'')
    formula.add_argument("expression", metavar="EXPR", help='the formula, e.g. "ROUND(2.5, 0)"')
    formula.add_argument("--app", metavar="APP", help="the app whose fields the formula may use")
    formula.add_argument("--entity", metavar="NAME", help="which entity the formula is about (needs --app)")
    formula.add_argument("--record", metavar="JSON", help="the record's field values as a JSON object")
    formula.add_argument("--db", metavar="URL",
                         help="also run the formula as SQL in this database (sqlite:///file or postgresql://...)")
    formula.add_argument("--today", metavar="DATE", help="pretend today is this date (YYYY-MM-DD)")

    migrate = commands.add_parser(
        "migrate", help="bring an app's database up to date with its YAML files (shows the plan first)",
        description="Compare the app with its database and change the database to match: tables for new "
                    "entities, new fields and indexes, fields made longer. Changes that could lose data are refused, "
                    "with the reason: a removed field or entity needs --allow-drop (its data is first copied to a "
                    "backup table), a renamed field needs 'renamed_from: OLD_NAME' in the YAML, and a field made "
                    "shorter or stricter is changed only when every existing value fits. All changes are made "
                    "together or not at all, and each is recorded in the database.",
        epilog="Example: jxc migrate apps/food --dry-run")
    migrate.add_argument("app", metavar="APP", help="the app's folder, e.g. apps/food")
    migrate.add_argument("--db", metavar="URL",
                         help="the database (sqlite:///file or postgresql://...); default: $JXC_DB, else the "
                              "SQLite file APP/data/jxc.sqlite")
    migrate.add_argument("--dry-run", action="store_true",
                         help="only show the plan (each change and its SQL); change nothing")
    migrate.add_argument("--allow-drop", action="store_true",
                         help="allow removing fields and tables the app no longer has; their data is first copied "
                              "to a backup table named jxc_backup_...")
    demo = commands.add_parser(
        "demo", help="set up an app's database and load its demo data (safe to run again)",
        description="Bring the app's database up to date (like 'jxc migrate') and load the demo records its YAML "
                    "files give under demo:. Records already loaded are skipped, so running it twice changes "
                    "nothing.")
    demo.add_argument("app", metavar="APP", help="the app's folder, e.g. apps/food")
    demo.add_argument("--db", metavar="URL", help="the database; default: $JXC_DB, else APP/data/jxc.sqlite")

    user = commands.add_parser("user", help="manage the people who use an app and their roles",
                               description="Add users and give them the app's roles (采购员, 仓管员...).")
    user_commands = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = user_commands.add_parser("add", help="add a user with one or more roles", allow_abbrev=False,  # see below
                                   epilog="Example: jxc user add zhang --role purchaser --app apps/food")
    add.add_argument("name", metavar="NAME", help="the user's login name (no spaces), e.g. zhangsan")
    add.add_argument("--role", action="append", default=[], metavar="ROLE",
                     help="a role from the app (repeat for several); 'admin' may do everything")
    add.add_argument("--full-name", metavar="TEXT", help="the name shown to others, e.g. 张三")
    add.add_argument("--email", metavar="ADDRESS", help="where jxc sends the user notifications")
    # No abbreviations: `--password secret` must be refused, not read as --password-env naming a variable
    password = add.add_mutually_exclusive_group()
    password.add_argument("--password-env", metavar="VAR",
                          help="set the web login password from the environment variable VAR (never typed on the "
                               "command line), e.g. --password-env JXC_NEW_PASSWORD")
    password.add_argument("--ask-password", action="store_true",
                          help="type the web login password at the terminal (asked twice)")
    add.add_argument("--app", metavar="APP", required=True, help="the app's folder, e.g. apps/food")
    add.add_argument("--db", metavar="URL", help="the database; default: $JXC_DB, else APP/data/jxc.sqlite")
    listing = user_commands.add_parser("list", help="list the users and their roles")
    listing.add_argument("--app", metavar="APP", required=True, help="the app's folder, e.g. apps/food")
    listing.add_argument("--db", metavar="URL", help="the database; default: $JXC_DB, else APP/data/jxc.sqlite")
    from engine.notify.cli import add_commands as add_notify_commands

    add_notify_commands(commands)  # jxc worker, jxc outbox
    from engine.web.api.cli import add_commands as add_token_commands

    add_token_commands(commands)  # jxc token
    from engine.web.serve import add_commands as add_web_commands

    add_web_commands(commands)  # jxc serve, jxc password
    _add_plugin_commands(commands)
    return parser


def _add_plugin_commands(commands: argparse._SubParsersAction) -> None:
    """Subcommands from plugins (hook jxc_cli_commands); a broken plugin must not take `jxc` down with it."""
    try:
        plugin_support.add_cli_commands(_plugins(), commands)
    except Exception as error:
        reason = error if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
        print(f"jxc: warning: plugin commands are not available ({reason})", file=sys.stderr)


def _plugins():
    """The plugin manager; a broken plugin (e.g. a misspelt hook) is the admin's to fix, not a jxc bug."""
    try:
        return plugin_support.plugin_manager()
    except pluggy.PluginValidationError as error:
        name = getattr(error.plugin, "__name__", type(error.plugin).__name__)
        raise UserError(f"the plugin {name} is broken, ask its author to fix it: {error}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "formula":
            return _formula(args)
        if args.command == "migrate":
            return _migrate(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "user":
            return _user(args)
        if args.command in ("worker", "outbox"):
            from engine.notify.cli import run

            return run(args, _open, UserError)
        if args.command == "token":
            from engine.web.api.cli import run as run_token

            return run_token(args, _open, UserError)
        if args.command in ("serve", "password"):
            from engine.web.serve import run as run_web

            return run_web(args, _open, UserError)
        if callable(getattr(args, "handler", None)):  # a plugin's command
            return args.handler(args) or EXIT_OK
        parser.error(f"unknown command {args.command}")
    except UserError as error:
        print(f"jxc: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        print("jxc: stopped", file=sys.stderr)
        return 130
    except Exception as error:  # the last guard: a bug in jxc must still not show a traceback to an admin
        if os.environ.get("JXC_DEBUG"):
            traceback.print_exc()
        print(f"jxc: internal error ({type(error).__name__}: {error}). Please report it; set JXC_DEBUG=1 to see "
              "the details.", file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_OK


def _load(path: str):
    folder = Path(path)
    if not folder.exists():
        near = did_you_mean(folder.name, [p.name for p in folder.parent.iterdir() if p.is_dir()]) \
            if folder.parent.is_dir() else None
        raise UserError(f"there is no app folder {path}" + (f" ({near})" if near else ""))
    from engine.startup import load

    app, _ = load(folder, _plugins())
    return app


def _check(args: argparse.Namespace) -> int:
    try:
        app = _load(args.app)
    except CheckFailed as failed:
        for problem in failed.problems:
            print(problem)
        count = len(failed.problems)
        print(f"\n{count} problem{'s' if count != 1 else ''} in {args.app}", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.print_app:
        print(to_yaml(dump_app(app)))
    print(summary(app))
    print("OK: no problems found")
    return EXIT_OK


def _formula(args: argparse.Namespace) -> int:
    import datetime as dt

    from engine.tryformula import RecordError, coerce_record, parse_record

    if args.entity and not args.app:
        raise UserError("--entity needs --app (the app the entity belongs to)")
    catalog, registry, entity = Catalog.build([]), None, None
    timezone = "Asia/Shanghai"
    if args.app:
        try:
            app = _load(args.app)
        except CheckFailed as failed:
            raise UserError(f"{args.app} has problems; run 'jxc check {args.app}' first "
                            f"({len(failed.problems)} found)") from None
        catalog, registry, timezone = app.catalog, app.registry, app.timezone
        if args.entity:
            if catalog.entity(args.entity) is None:
                hint = did_you_mean(args.entity, catalog.entities)
                raise UserError(f"{args.app} has no entity '{args.entity}'" + (f" ({hint})" if hint else ""))
            entity = args.entity
    if registry is None:
        registry = plugin_support.formula_registry(_plugins())
    now = None
    if args.today:
        try:
            now = dt.datetime.combine(dt.date.fromisoformat(args.today), dt.time(9, 0))
        except ValueError:
            raise UserError(f"--today must be a date like 2026-01-31, not '{args.today}'") from None
    context = SimpleContext(timezone, now=now)
    try:
        expr = Checker(catalog, registry, entity).check(parse(args.expression))
    except FormulaError as error:
        _show_formula_error(args.expression, error)
        return EXIT_PROBLEMS
    record = None
    try:
        if args.record is not None:
            if entity is None:
                raise UserError("--record needs --app and --entity (so jxc knows the fields)")
            record = coerce_record(catalog, entity, parse_record(args.record))
        elif entity is not None:
            record = coerce_record(catalog, entity, {})
    except RecordError as error:
        raise UserError(str(error)) from None
    try:
        value = compile_python(expr)(record or {}, context)
        print(f"= {_show(value)}    ({expr.type})")
    except FormulaRuntimeError as error:
        print(f"error: {error}")
        return EXIT_PROBLEMS
    if args.db:
        return _formula_in_database(args.db, expr, catalog, entity, record, context, value, registry)
    return EXIT_OK


def _formula_in_database(url, expr, catalog, entity, record, context, python_value, registry) -> int:
    from sqlalchemy.exc import DBAPIError

    from engine.db import DatabaseUrlError, create_engine, prepare_database
    from engine.tryformula import evaluate_in_database

    try:
        engine = create_engine(url, registry=registry)
    except DatabaseUrlError as error:
        raise UserError(str(error)) from None
    missing = sql_form_missing(expr, engine.dialect.name)
    if missing:
        print(f"SQL ({engine.dialect.name}): no SQL form: {missing}; jxc evaluates this formula in Python")
        return EXIT_OK
    try:
        prepare_database(engine)
        value = evaluate_in_database(engine, expr, catalog, entity, record, context)
    except NoSqlForm as error:
        print(f"SQL ({engine.dialect.name}): no SQL form: {error}")
        return EXIT_OK
    except DBAPIError as error:
        translated = translate_database_error(error)
        if translated is None:
            raise UserError(f"the database refused: {str(error.orig).splitlines()[0]}") from None
        print(f"SQL ({engine.dialect.name}): error: {translated}")
        return EXIT_PROBLEMS
    finally:
        engine.dispose()
    same = value == python_value
    verdict = "(same as Python)" if same else "(DIFFERENT from Python!)"
    print(f"SQL ({engine.dialect.name}): {_show(value)}    {verdict}")
    return EXIT_OK if same else EXIT_PROBLEMS


def _migrate(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from engine.db import DatabaseUrlError, create_engine, resolve_url
    from engine.migrate import MigrationError, apply, plan

    try:
        app = _load(args.app)
    except CheckFailed as failed:
        raise UserError(f"{args.app} has problems; run 'jxc check {args.app}' first "
                        f"({len(failed.problems)} found)") from None
    try:
        engine = create_engine(resolve_url(args.db, Path(args.app) / "data"), registry=app.registry)
    except DatabaseUrlError as error:
        raise UserError(str(error)) from None
    try:
        the_plan = plan(app, engine, allow_drop=args.allow_drop)
        print(the_plan.text())
        if the_plan.refusals:
            count = len(the_plan.refusals)
            print(f"\nrefused {count} change{'s' if count != 1 else ''}; the database was not changed:")
            for change in the_plan.refusals:
                print(f"  - {change.refused}")
            return EXIT_PROBLEMS
        if args.dry_run:
            count = len(the_plan.changes)
            print(f"\ndry run: nothing was changed ({count} change{'s' if count != 1 else ''} planned)")
            return EXIT_OK
        if the_plan.empty:
            if the_plan.record_types:  # only jxc's record of the column types is behind
                apply(the_plan, engine, app_version=app.version)
            return EXIT_OK
        applied = apply(the_plan, engine, app_version=app.version,
                        progress=lambda message: print(f"... {message}", file=sys.stderr))
        print(f"applied {applied.count} change{'s' if applied.count != 1 else ''}")
        return EXIT_OK
    except MigrationError as error:
        raise UserError(str(error)) from None
    except DBAPIError as error:
        raise UserError(f"the database refused: {str(error.orig).strip().splitlines()[0]}") from None
    finally:
        engine.dispose()


def _open(args: argparse.Namespace):
    """The app started on its database (migrated to the app's current shape)."""
    from engine.db import DatabaseUrlError
    from engine.migrate import MigrationError
    from engine.startup import start

    try:
        started = start(args.app, args.db, manager=_plugins(),
                        progress=lambda message: print(f"... {message}", file=sys.stderr))
    except CheckFailed as failed:
        raise UserError(f"{args.app} has problems; run 'jxc check {args.app}' first "
                        f"({len(failed.problems)} found)") from None
    except DatabaseUrlError as error:
        raise UserError(str(error)) from None
    except MigrationError as error:
        raise UserError(f"{error}; run 'jxc migrate {args.app}' to see the plan") from None
    applied = started.migration.applied
    if applied is not None and applied.count:
        print(f"database updated: {applied.count} changes", file=sys.stderr)
    return started


def _demo(args: argparse.Namespace) -> int:
    from engine.demo import DemoError, load_demo

    started = _open(args)
    try:
        report = load_demo(started.records, progress=lambda message: print(f"... {message}", file=sys.stderr))
    except DemoError as error:
        raise UserError(str(error)) from None
    finally:
        started.close()
    created = ", ".join(f"{count} {name}" for name, count in report.created.items()) or "nothing new"
    skipped = sum(report.skipped.values())
    print(f"demo data: created {created}" + (f"; {skipped} already loaded" if skipped else ""))
    return EXIT_OK


def _user(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from engine.errors import ServiceError
    from engine.new_password import PasswordProblem, read_new_password
    from engine.users import add_user

    password_hash = None
    if args.user_command == "add":
        try:  # before opening the database: a refused password adds nobody
            password = read_new_password(args.name, env_var=args.password_env, ask=args.ask_password)
        except PasswordProblem as problem:
            raise UserError(f"{problem}; user {args.name} not added") from None
        if password is not None:
            from engine.web.auth import hash_password

            password_hash = hash_password(password)
    started = _open(args)
    app, engine, schema = started.app, started.engine, started.records.schema
    try:
        if args.user_command == "add":
            try:
                add_user(engine, app, schema, args.name, roles=args.role, full_name=args.full_name, email=args.email,
                         password_hash=password_hash)
            except ServiceError as error:
                raise UserError(error.message) from None
            roles = ", ".join(args.role) or "no roles yet"
            with_password = "; they log in to the web UI with the password given" if password_hash else ""
            print(f"added user {args.name} ({roles}){with_password}")
            return EXIT_OK
        users, roles_table = schema.users, schema.metadata.tables["jxc_user_role"]
        assert users is not None
        with engine.connect() as connection:
            rows = connection.execute(select(users.c.id, users.c.name, users.c.full_name, users.c.active)
                                      .order_by(users.c.name)).all()
            for row in rows:
                held = connection.execute(select(roles_table.c.role).where(roles_table.c.user_id == row.id)
                                          .order_by(roles_table.c.role)).scalars().all()
                state = "" if row.active else " (inactive)"
                print(f"{row.name}{' ' + row.full_name if row.full_name else ''}{state}: {', '.join(held) or '-'}")
            if not rows:
                print("no users yet; add one with: jxc user add NAME --role ROLE --app " + args.app)
        return EXIT_OK
    finally:
        started.close()


def _show(value: object) -> str:
    if value is None:
        return "(blank)"
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    return to_text(value)


def _show_formula_error(source: str, error: FormulaError) -> None:
    column = error.position + 1
    print(f"formula:1:{column}: error: {error.message}")
    print(f"    {source}")
    print("    " + " " * _display_width(source[: error.position]) + "^")
    if error.hint:
        print(f"    hint: {error.hint}")


def _display_width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


if __name__ == "__main__":
    sys.exit(main())
