"""The parquet schemas are guarded by golden files; pandas, pyarrow and duckdb read the outputs."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness import api, results
from harness.mock import mock_spec

GOLDEN = Path(__file__).parent / "golden"
SCHEMAS = {"leaderboard": results.LEADERBOARD_SCHEMA, "deltas": results.DELTAS_SCHEMA}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_matches_golden_file(name: str) -> None:
    text = "\n".join(f"{f.name}: {f.type}" for f in SCHEMAS[name]) + "\n"
    golden = GOLDEN / f"{name}_schema.txt"
    assert text == golden.read_text(), f"schema of {name} changed: bump SCHEMA_VERSION and update {golden}"


def test_written_files_have_the_schema_and_every_reader_reads_them(tmp_path: Path) -> None:
    import duckdb
    import pandas as pd

    api.run([mock_spec()], tasks=["TemperatureBySensation"], conditions=["none", "blog"], results_dir=tmp_path,
            progress=False)
    api.aggregate(tmp_path)
    for name, schema in SCHEMAS.items():
        path = tmp_path / f"{name}.parquet"
        assert pq.read_schema(path).remove_metadata() == schema
        df = pd.read_parquet(path)
        assert len(df) > 0 and (df.schema_version == results.SCHEMA_VERSION).all()
        rows = duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()
        assert rows[0][0] == len(df)
