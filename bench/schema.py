"""Give a fresh installation its tables: ``migrate``, and when the migrations lag behind the
models (they are regenerated at integration while the team works), build the schema from the
models instead, as the test suite does with ``--nomigrations``.

Run as a child process: ``python -m bench.schema`` with the installation's environment. Prints
``migrated`` or ``from-models`` on stdout.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def missing_columns() -> list[str]:
    """Return ``table.column`` of every model field the database does not have."""
    from django.apps import apps
    from django.db import connection

    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        missing = []
        for model in apps.get_models(include_auto_created=True):
            table = model._meta.db_table
            if not model._meta.managed or model._meta.proxy:
                continue
            if table not in tables:
                missing.append(table)
                continue
            columns = {
                c.name for c in connection.introspection.get_table_description(cursor, table)
            }
            missing += [
                f"{table}.{f.column}"
                for f in model._meta.local_concrete_fields
                if f.column not in columns
            ]
    return missing


def build_from_models() -> None:
    from django.apps import apps
    from django.db import connection

    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'DROP TABLE IF EXISTS "{table}"')
    with connection.schema_editor() as editor:
        for model in apps.get_models():
            if model._meta.managed and not model._meta.proxy:
                editor.create_model(model)


def main() -> int:
    import django

    django.setup()
    from django.core.management import call_command

    try:
        call_command("migrate", interactive=False, verbosity=0)
        gaps = missing_columns()
    except Exception as exc:  # a broken migration graph counts as lagging migrations
        gaps = [f"migrate failed: {exc}"]
    if not gaps:
        print("migrated")
        return 0
    print(
        f"migrations lag behind the models ({', '.join(gaps[:5])}...); building from models",
        file=sys.stderr,
    )
    build_from_models()
    print("from-models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
