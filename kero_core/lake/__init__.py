"""Scale-out storage: several app hosts write to one DuckLake (catalog in PostgreSQL, Parquet
files on a shared folder or object storage) and every host reads all of it.

Each host keeps the single-file design's local spool (``db_path``), so the request path never
touches the network; the ingest commits spooled batches to the lake instead of a local file.
One host at a time, elected by a PostgreSQL advisory lock, maintains the lake: rollups of
closed days, retention, compaction. The daily visitor salt lives in PostgreSQL, so a visitor
who reaches three hosts in a day is one visitor."""

from kero_core.lake.store import LakeStore

__all__ = ["LakeStore"]
