"""The layout: migrations live at the top of the repository, a built wheel carries them, and an installed wheel
finds them. The one slow test here (a few seconds) builds the wheel with the locked hatchling, offline."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from t3000gql.storage.migrations import available_migrations, migrations_dir

ROOT = Path(__file__).resolve().parent.parent
SOURCE_MIGRATIONS = sorted((ROOT / "migrations" / "sqlite").glob("*.sql"))


def test_a_source_checkout_finds_the_top_level_migrations() -> None:
    assert SOURCE_MIGRATIONS, "migrations/sqlite/ holds the numbered SQL files"
    assert not (ROOT / "t3000gql" / "migrations").exists()
    assert migrations_dir() == ROOT / "migrations" / "sqlite"
    assert [m.path for m in available_migrations()] == SOURCE_MIGRATIONS


def test_the_wheel_carries_the_migrations_and_an_installed_wheel_finds_them(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", dist, ROOT],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("t3000gql-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        carried = {
            name: archive.read(name) for name in archive.namelist() if name.startswith("t3000gql/migrations/")
        }
        assert "t3000gql/py.typed" in archive.namelist()
    every = sorted((ROOT / "migrations").glob("*/*.sql"))
    assert {path.parent.name for path in every} == {"sqlite", "postgres"}
    assert carried == {f"t3000gql/migrations/{path.parent.name}/{path.name}": path.read_bytes() for path in every}

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, wheel],
        check=True,
        capture_output=True,
        timeout=300,
    )
    probe = (
        "import json, t3000gql; from t3000gql.storage.migrations import available_migrations; "
        "print(json.dumps([t3000gql.__file__, [str(m.path) for m in available_migrations()]]))"
    )
    # The installed copy comes first on the path (before this checkout's editable install).
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    package_file, found = json.loads(done.stdout)
    assert Path(package_file).is_relative_to(site)
    assert found == [str(site / "t3000gql" / "migrations" / "sqlite" / path.name) for path in SOURCE_MIGRATIONS]
