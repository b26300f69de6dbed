"""The parquet schemas are guarded by golden files; pandas, pyarrow and duckdb read the outputs."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness import api
from harness.models.mock import mock_spec
from harness.results import schema as results

GOLDEN = Path(__file__).parent / "golden"
SCHEMAS = {"leaderboard": results.LEADERBOARD_SCHEMA, "deltas": results.DELTAS_SCHEMA,
           "predictions": results.PREDICTIONS_SCHEMA, "family": results.FAMILY_SCHEMA,
           "geometry": results.GEOMETRY_SCHEMA, "robust_score": results.ROBUST_SCHEMA}
VERSIONS = {"leaderboard": results.SCHEMA_VERSION, "deltas": results.SCHEMA_VERSION,
            "predictions": results.PREDICTIONS_SCHEMA_VERSION, "family": results.SCHEMA_VERSION,
            "geometry": results.SCHEMA_VERSION, "robust_score": results.SCHEMA_VERSION}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_matches_golden_file(name: str) -> None:
    text = "\n".join(f"{f.name}: {f.type}" for f in SCHEMAS[name]) + "\n"
    golden = GOLDEN / f"{name}_schema.txt"
    assert text == golden.read_text(), f"schema of {name} changed: bump SCHEMA_VERSION and update {golden}"


def test_written_files_have_the_schema_and_every_reader_reads_them(tmp_path: Path) -> None:
    import duckdb
    import pandas as pd

    api.run([mock_spec()], tasks=["TemperatureBySensation", "ScaleSize"], conditions=["none", "blog"],
            results_dir=tmp_path, progress=False)
    api.aggregate(tmp_path)
    paths = {"leaderboard": tmp_path / "leaderboard.parquet", "deltas": tmp_path / "deltas.parquet",
             "predictions": next((tmp_path / "cells").glob("*/*/blog/*.predictions.parquet")),
             "family": tmp_path / "family.parquet", "geometry": tmp_path / "geometry.parquet",
             "robust_score": tmp_path / "robust_score.parquet"}
    for name, schema in SCHEMAS.items():
        path = paths[name]
        assert pq.read_schema(path).remove_metadata() == schema
        df = pd.read_parquet(path)
        assert (len(df) > 0 or name == "robust_score") and (df.schema_version == VERSIONS[name]).all()  # no variants
        rows = duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()
        assert rows[0][0] == len(df)
