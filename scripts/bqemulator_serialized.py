"""Start bqemulator with one lock around its DuckDB connection.

bqemulator 1.4 shares a single DuckDB connection between its REST event loop and the
threads that serve the Storage Write API (AppendRows). Under concurrent load (a stream
worker appending while a query or insertAll runs) the two deadlock inside DuckDB and
the emulator stops answering. Real BigQuery has no such limit, so instead of
serialising our own clients we serialise the emulator: every use of the connection,
and each AppendRows flush as a whole, takes one re-entrant lock.

Usage: the same arguments as `bqemulator` (scripts/emulators.sh runs it).
"""
import functools
import sys
import threading
from importlib.metadata import version

# The patches below reach into bqemulator's internals (module and method names); they
# were written for, and tested with, this version only.
WRITTEN_FOR = "1.4.0"
if version("bqemulator") != WRITTEN_FOR:
    sys.exit(
        f"bqemulator_serialized.py: bqemulator {version('bqemulator')} is installed, but this "
        f"launcher was written for {WRITTEN_FOR}: run `scripts/emulators.sh install` (it pins "
        f"{WRITTEN_FOR}), or check the patches against the new version and update WRITTEN_FOR."
    )

from bqemulator.cli import main  # noqa: E402
from bqemulator.grpc_api import write_servicer  # noqa: E402
from bqemulator.storage import engine  # noqa: E402

LOCK = threading.RLock()


def locked(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with LOCK:
            return fn(*args, **kwargs)

    return wrapper


class LockedConnection:
    """A DuckDB connection whose every method call holds LOCK."""

    def __init__(self, conn):
        self._conn = conn

    def __getattr__(self, name):
        attr = getattr(self._conn, name)
        return locked(attr) if callable(attr) else attr


engine.DuckDBEngine.execute = locked(engine.DuckDBEngine.execute)
engine.DuckDBEngine.fetch_arrow = locked(engine.DuckDBEngine.fetch_arrow)
_raw_connection = engine.DuckDBEngine.connection.fget
engine.DuckDBEngine.connection = property(lambda self: LockedConnection(_raw_connection(self)))
write_servicer.BigQueryWriteHandler._flush_to_target = locked(
    write_servicer.BigQueryWriteHandler._flush_to_target
)

if __name__ == "__main__":
    sys.argv[0] = "bqemulator"
    sys.exit(main())
