"""`t3000gql import-logs` and `t3000gql retention` run beside a running server (real processes): the server reads
the years the import made and stops reading the years retention dropped, without a restart. Before, a server
read only the yearly tables it knew at start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.scale.conftest import Site
from tests.scale.servers import running, wait_for

SERIES = """
query ($start: DateTime!, $end: DateTime!) {
  station(name: "ST-1") { series(startDate: $start, endDate: $end) { field columns { timestamps values } } }
}
"""
YEAR_2021 = {"start": "2021-01-01T00:00:00Z", "end": "2022-01-01T00:00:00Z"}
YEAR_2024 = {"start": "2024-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}
MID_2022 = 1_654_041_600_000  # 2022-06-01T00:00:00Z


def command(site: Site, env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "t3000gql", *arguments],
        env=env,
        cwd=site.workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def power_stamps(data: dict[str, list[dict[str, object]]]) -> list[int]:
    (active,) = [s for s in data["station"]["series"] if s["field"] == "activePower1"]  # type: ignore[index]
    columns = active["columns"]
    assert isinstance(columns, dict)
    return list(columns["timestamps"])


async def test_a_server_reads_what_an_import_beside_it_wrote_and_forgets_what_retention_dropped(
    site: Site, tmp_path: Path
) -> None:
    env = site.environment()
    logs = tmp_path / "monitor.log"
    logs.write_text(
        "[2021-03-01T10:00:00.000Z] ST-1 activePower1=1000 muxPower1=10\n"
        "[2024-03-01T10:00:00.000Z] ST-1 activePower1=1500 muxPower1=20\n"
    )
    with running(site.workdir / "server", env, name="server") as server:
        await server.data('mutation { createStation(input: {name: "ST-1"}) { deviceId } }')
        assert power_stamps(await server.data(SERIES, YEAR_2024)) == []  # no yearly table yet
        command(site, env, "import-logs", str(logs), "--report", str(tmp_path / "report.txt"))
        assert power_stamps(await server.data(SERIES, YEAR_2024)) == [1_709_287_200_000]
        assert power_stamps(await server.data(SERIES, YEAR_2021)) == [1_614_592_800_000]

        assert (await server.health())["partitions"] == [2021, 2024]  # the server knows both years now
        # Retention measures from the newest sample (2024-03-01) when it is older than now: a cut-off in 2022,
        # so 2021 goes and 2024 stays.
        days = (1_709_287_200_000 - MID_2022) // 86_400_000
        command(site, env, "retention", "--days", str(days))

        async def forgotten() -> bool:
            return 2021 not in (await server.health())["partitions"]

        await wait_for(forgotten, "the server to forget the dropped year")
        assert power_stamps(await server.data(SERIES, YEAR_2021)) == []
        assert power_stamps(await server.data(SERIES, YEAR_2024)) == [1_709_287_200_000]
