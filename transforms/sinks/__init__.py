"""Sinks: every table as JSON Lines and Parquet (`files`), per window for streaming runs
(`windowed`), upserted into PostgreSQL (`postgres`) or loaded into BigQuery (`bigquery`)."""
