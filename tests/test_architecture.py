"""The rules of docs/architecture.md, held against the code: imports point down (its layer table), every table
has one owner that every SQL write of the package is in (its owner table), the API changes the registry only
through the registry service, the API's module map lists every module, and comments cite this repository."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "t3000gql"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SQL_WRITE = re.compile(
    r"\b(?:INSERT(?:\s+OR\s+(?:IGNORE|REPLACE))?\s+INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+([A-Za-z_][\w.]*)"
)
PARTITIONS = "timeseries_data_YYYY"
ROLLUP_PARTITIONS = "rollups_YYYY"


def modules() -> Iterator[Path]:
    yield from sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def table_rows(heading: str) -> list[list[str]]:
    """The cells of the markdown table under `heading` in docs/architecture.md, header and rule left out."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[2:]


def names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def layer_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return "t3000gql" if parts == ("__init__",) else parts[0]


def imported_layers(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            parts = target.split(".")
            if parts[0] == "t3000gql":
                found.add(parts[1] if len(parts) > 1 else "t3000gql")
    return found


def test_imports_point_down() -> None:
    allowed = {names(layer)[0]: set(names(may)) for layer, _, may in table_rows("### Who may import whom")}
    offenders = []
    for path in modules():
        layer = layer_of(path)
        if layer not in allowed:
            offenders.append(f"{path.relative_to(ROOT)}: layer {layer!r} has no row in {ARCHITECTURE.name}")
            continue
        for other in sorted(imported_layers(path) - allowed[layer] - {layer}):
            offenders.append(f"{path.relative_to(ROOT)} ({layer}) imports {other}")
    assert offenders == []


def documented_owners() -> dict[str, str]:
    return {names(table)[0]: names(owner)[0] for table, owner, _ in table_rows("## Who owns which table")}


def test_every_table_the_migrations_create_has_an_owner() -> None:
    migrations = [p for p in ROOT.glob("**/migrations/*/*.sql") if ".venv" not in p.parts]
    assert {p.parent.name for p in migrations} == {"sqlite", "postgres"}, "no migrations found"
    created = {
        name
        for path in migrations
        for name in re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", path.read_text(encoding="utf-8"))
    }
    # made by the migration runner, storage/partitions.py and storage/rollups.py
    created |= {"schema_version", PARTITIONS, ROLLUP_PARTITIONS}
    owners = documented_owners()
    assert set(owners) == created
    for owner in owners.values():
        assert (ROOT / owner).is_file() and owner.startswith("t3000gql/storage/"), owner


def sql_writes(path: Path) -> set[str]:
    """Tables a module's SQL text writes by name (partitions are named at run time and not seen here)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    texts = [
        node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    return {match for text in texts for match in SQL_WRITE.findall(text)}


def test_every_sql_write_is_in_its_tables_owner() -> None:
    owners = documented_owners()
    offenders = []
    writes_seen = set()
    for path in modules():
        module = path.relative_to(ROOT).as_posix()
        for table in sql_writes(path) & owners.keys():
            writes_seen.add(table)
            if owners[table] != module:
                offenders.append(f"{module} writes {table}, owned by {owners[table]}")
    assert offenders == []
    # the scan does see the writes it checks (history is written to yearly tables named at run time)
    assert writes_seen == owners.keys() - {PARTITIONS, "timeseries_data", ROLLUP_PARTITIONS, "rollups"}


REGISTRY_WRITE = re.compile(
    r"\.(?:store|_store)\.(devices|points|trend_logs|stations)\.(upsert|upsert_in|create|update|delete|set_status)\b"
    r"|\.stations\.(create_station|upsert_station|delete_station)\b"
)


def test_the_api_changes_the_registry_only_through_the_registry_service() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in sorted((PACKAGE / "api").glob("*.py"))
        for match in REGISTRY_WRITE.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_api_module_map_lists_every_module() -> None:
    mapped = set(
        re.findall(
            r"^(\w+\.py)\s",
            ast.get_docstring(ast.parse((PACKAGE / "api" / "__init__.py").read_text())) or "",
            re.MULTILINE,
        )
    )
    present = {path.name for path in (PACKAGE / "api").glob("*.py")} - {"__init__.py"}
    assert mapped == present


def test_comments_cite_files_of_this_repository() -> None:
    sources = [*modules(), *(ROOT / "scripts").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    sources += [p for p in ROOT.glob("**/migrations/*/*.sql") if ".venv" not in p.parts]
    outside = re.compile(r"DESIGN\.md|STYLE\.md|shared/reference|\.\./shared|seeds/")
    cited = re.compile(r"\bdocs/[\w./-]+\.md\b")
    offenders = []
    for path in sources:
        if path == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in outside.finditer(text)]
        offenders += [
            f"{path.relative_to(ROOT)}: {m.group(0)} does not exist"
            for m in cited.finditer(text)
            if not (ROOT / m.group(0)).is_file()
        ]
    assert offenders == []


def test_lower_layers_name_fields_in_the_domains_words() -> None:
    """Below the API a field is named as the domain names it (`device_name`); only the edges (the API, and web/
    for its URL parameters) speak camelCase."""
    camel = re.compile(r'(?:\bfield=|\bcheck_\w+\([^,()]+,\s*)f?"([a-z]+[A-Z][\w.{}]*)"')
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(1)}"
        for path in modules()
        if not {"api", "web"} & set(path.relative_to(PACKAGE).parts)
        for match in camel.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
