"""Getting market data into the store: Lean files, option-chain files, mapped CSV/Parquet.

>>> from workbench.store import Store
>>> from workbench.ingest import ingest_lean, ingest_chain_file, ingest_csv
>>> store = Store.open(":memory:")
>>> ingest_lean(store, "../shared/data/real/lean/equity/usa/minute/spy", quiet=True).inserted > 0
True

Every file is one all-or-nothing store batch; bad input raises :class:`IngestError` naming the
file, line and field; documented repairs are counted in the ingest log (``docs/data-store.md``).
"""

from workbench.ingest.base import FileResult, IngestSummary
from workbench.ingest.chains import ingest_chain_file, ingest_chains
from workbench.ingest.csvmap import CsvMapping, ingest_csv, load_mapping
from workbench.ingest.errors import IngestError
from workbench.ingest.lean import ingest_lean

__all__ = [
    "CsvMapping",
    "FileResult",
    "IngestError",
    "IngestSummary",
    "ingest_chain_file",
    "ingest_chains",
    "ingest_csv",
    "ingest_lean",
    "load_mapping",
]
