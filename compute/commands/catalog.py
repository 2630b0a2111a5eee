"""``govgrid catalog ACTION``: register, describe, search, version and convert tables.

Registration imports nothing heavy: each action imports the catalog when it runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from compute.commands import parse_pairs

SHARING = ("unconditional", "conditional", "not_shared")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "catalog", help="the tables of a data directory: list, show, add, update, history ..."
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    parser.add_argument("--data", metavar="DIR", help="data directory (lists its tables)")
    parser.set_defaults(run=run_list)

    def action(name: str, help_text: str, run, data: bool = True) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text)
        if data:
            sub.add_argument("--data", required=True, metavar="DIR", help="data directory")
        sub.set_defaults(run=run)
        return sub

    action("list", "every table: owner, sharing, version, rows, size, elements", run_list)

    show = action("show", "one table: facts, columns, elements, authorities", run_show)
    show.add_argument("name", metavar="NAME")

    add = action("add", "register a Parquet dataset (a directory of files or a Delta table)",
                 run_add)
    add.add_argument("name", metavar="NAME")
    add.add_argument("--path", required=True, metavar="PATH",
                     help="the dataset's directory, relative to DIR unless absolute")
    add.add_argument("--owner", required=True, metavar="DEPARTMENT")
    add.add_argument("--sharing", required=True, choices=SHARING)
    add.add_argument("--element", action="append", default=[], metavar="COLUMN=ELEMENT",
                     help="map a column to a data element (repeat; see `catalog elements`)")
    add.add_argument("--sensitivity", action="append", default=[], metavar="COLUMN=LEVEL",
                     help="a column's sensitivity: public, internal, personal, personal_id")
    add.add_argument("--description", default="", metavar="TEXT")

    remove = action("remove", "unregister a table (its files stay)", run_remove)
    remove.add_argument("name", metavar="NAME")

    authority = action("authority", "make TABLE the authoritative source of ELEMENT "
                       "(without arguments: list the authorities)", run_authority)
    authority.add_argument("element", metavar="ELEMENT", nargs="?")
    authority.add_argument("table", metavar="TABLE", nargs="?")

    update = action("update", "commit a new version: append rows or replace them", run_update)
    update.add_argument("name", metavar="NAME")
    how = update.add_mutually_exclusive_group(required=True)
    how.add_argument("--append", metavar="PATH", help="Parquet file or directory to append")
    how.add_argument("--replace", metavar="PATH", help="Parquet file or directory to replace "
                     "the table's rows with")

    history = action("history", "the versions of a table: time, operation, rows", run_history)
    history.add_argument("name", metavar="NAME")

    search = action("search", "tables by name, description, owner, column or element",
                    run_search)
    search.add_argument("text", metavar="TEXT")

    action("check", "read every file's footer and check it against the table's schema",
           run_check)
    action("elements", "the data elements: type, sensitivity, authority", run_elements,
           data=False).add_argument("--data", metavar="DIR", help="also show authorities")

    export = action("export", "write the catalog as YAML (default DIR/catalog.yaml)", run_export)
    export.add_argument("--out", type=Path, metavar="FILE")

    imported = action("import", "register the tables and authorities of a catalog.yaml",
                      run_import)
    imported.add_argument("file", type=Path, metavar="FILE")

    upgrade = action("upgrade", "convert a data directory from catalog.yaml v1, atomically",
                     run_upgrade, data=False)
    upgrade.add_argument("directory", type=Path, metavar="DIR")


def _catalog(args: argparse.Namespace):
    from compute.tables import Catalog

    return Catalog.load(args.data)


def run_list(args: argparse.Namespace) -> int:
    if not args.data:
        raise ValueError("give --data DIR (or an action: govgrid catalog --help)")
    print(_catalog(args).render())
    return 0


def run_show(args: argparse.Namespace) -> int:
    print(_catalog(args).render_table(args.name))
    return 0


def run_add(args: argparse.Namespace) -> int:
    from compute.tables import Catalog

    catalog = Catalog.create(args.data)
    entry = catalog.add(
        args.name, args.path, owner=args.owner, sharing=args.sharing,
        elements=parse_pairs(args.element, "element", "COLUMN=ELEMENT"),
        sensitivities=parse_pairs(args.sensitivity, "sensitivity", "COLUMN=LEVEL"),
        description=args.description,
    )
    print(f"registered {entry.name}: version {entry.version}, {entry.rows:,} rows, "
          f"{len(entry.columns)} columns")
    print(catalog.render_table(entry.name))
    return 0


def run_remove(args: argparse.Namespace) -> int:
    dropped = _catalog(args).remove(args.name)
    print(f"removed {args.name}" + (f"; it was the authority of {', '.join(dropped)}, which "
                                    "now have none" if dropped else ""))
    return 0


def run_authority(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    if args.element and not args.table:
        raise ValueError("give ELEMENT and TABLE, or neither to list the authorities")
    if args.element:
        catalog.set_authority(args.element, args.table)
        print(f"{args.table} is the authoritative source of {args.element}")
        return 0
    for element_name, table in catalog.authorities().items():
        print(f"{element_name:<20} {table}")
    return 0


def run_update(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    mode, source = ("append", args.append) if args.append else ("replace", args.replace)
    version = catalog.update(args.name, source, mode)
    entry = catalog.table(args.name)
    print(f"{args.name}: version {version} committed ({mode} {source}); "
          f"{entry.rows:,} rows now")
    return 0


def run_history(args: argparse.Namespace) -> int:
    rows = _catalog(args).history(args.name)
    print(f"{'version':>7}  {'time (UTC)':<25} {'operation':<10} {'mode':<10} "
          f"{'rows added':>11} {'rows':>12}")
    for row in rows:
        added = "" if row["rows_added"] is None else f"{row['rows_added']:,}"
        print(f"{row['version']:>7}  {row['time'].isoformat(timespec='seconds'):<25} "
              f"{row['operation']:<10} {row['mode']:<10} {added:>11} {row['rows']:>12,}")
    return 0


def run_search(args: argparse.Namespace) -> int:
    entries = _catalog(args).search(args.text)
    for entry in entries:
        elements = ", ".join(c.element for c in entry.columns if c.element)
        print(f"{entry.name:<30} {entry.owner:<35} {entry.description[:40]:<40} {elements}")
    print(f"{len(entries)} table{'s' if len(entries) != 1 else ''}"
          + (" (first 100)" if len(entries) == 100 else ""))
    return 0


def run_check(args: argparse.Namespace) -> int:
    from compute.tables.read import check_files

    catalog = _catalog(args)
    names = catalog.names()
    for name in names:
        version = catalog.version(name)
        check_files(name, version.schema, version.files, version.schema.names)
    print(f"all {len(names)} tables' files match their schemas")
    return 0


def run_elements(args: argparse.Namespace) -> int:
    from compute.tables import ELEMENTS

    authorities = _catalog(args).authorities() if args.data else {}
    for e in ELEMENTS.values():
        source = authorities.get(e.name, "-") if args.data else ""
        print(f"{e.name:<20} {e.kind:<8} {e.sensitivity:<12} {source:<18} {e.description}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from compute.tables.catalog_file import write_export

    print(f"wrote {write_export(_catalog(args), args.out)}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from compute.tables import Catalog
    from compute.tables.catalog_file import import_document

    names = import_document(Catalog.create(args.data), args.file)
    print(f"registered {len(names)} tables: {', '.join(names)}")
    return 0


def run_upgrade(args: argparse.Namespace) -> int:
    from compute.tables.catalog_file import upgrade

    catalog = upgrade(args.directory)
    print(f"upgraded {args.directory}: {len(catalog)} Delta tables in {catalog.path.name}; "
          "the old catalog is kept as catalog.v1.yaml")
    return 0

