"""Results files: the schema (typed lines), reading and writing them, migrations, and pytest-benchmark interop."""

from flopbench.results.files import ResultsWriter, load_results, read_run, read_runs
from flopbench.results.schema import Footer, Header, Record, Run

__all__ = ["Footer", "Header", "Record", "ResultsWriter", "Run", "load_results", "read_run", "read_runs"]
