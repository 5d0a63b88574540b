"""pytest settings shared by the unit tests and the notebook runs (nbval).

With ``--executed-copies DIR`` every notebook that nbval runs without a failure is also
written to ``DIR/<name>.ipynb`` with its outputs, as ``jupyter nbconvert --execute`` would
write it: the kernel messages that nbval reads are handed to nbclient's own message handling
(outputs, ``clear_output``, display updates, widget state). ``make test`` builds the website
from these copies, so the notebooks run once for both.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--executed-copies",
        metavar="DIR",
        default=None,
        help="write each notebook that nbval ran without a failure, with its outputs, to DIR",
    )


def pytest_collection_modifyitems(items):
    # the notebooks run alone are compared with the in-order (nbval) run: they go last
    items.sort(key=lambda item: item.get_closest_marker("alone") is not None)
    # nbval waits only 5 s for each output message after a cell finishes; on a busy 2-core
    # machine a training cell's last progress-bar messages can take longer to arrive.
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 60


class _ExecutedCopy:
    """One notebook's outputs, recorded from the messages nbval reads from its kernel."""

    def __init__(self, nb_file):
        import nbformat
        from nbclient import NotebookClient

        self.nb = nbformat.read(str(nb_file.fspath), as_version=4)
        self.client = NotebookClient(self.nb)  # no kernel: only its message handling
        self.cell = None
        self.msg_id = None
        self.complete = True
        self.executed = []  # cell indices, in the order they ran

        execute, read = nb_file.kernel.execute_cell_input, nb_file.get_kernel_message

        def execute_and_note(*args, **kwargs):
            self.msg_id = execute(*args, **kwargs)
            return self.msg_id

        def read_and_record(*args, **kwargs):
            msg = read(*args, **kwargs)
            self.record(msg)
            return msg

        nb_file.kernel.execute_cell_input = execute_and_note
        nb_file.get_kernel_message = read_and_record

    def start(self, index: int) -> None:
        self.cell = self.nb.cells[index]
        self.cell.outputs, self.cell.execution_count = [], None
        self.cell.metadata["execution"] = {}
        self.index = index
        self.executed.append(index)
        self.client.clear_before_next_output = False

    def record(self, msg: dict) -> None:
        from nbclient.exceptions import CellExecutionComplete

        mine = msg.get("parent_header", {}).get("msg_id") == self.msg_id
        if self.cell is None or not (mine or msg["msg_type"].startswith("comm")):
            return
        try:
            self.client.process_message(msg, self.cell, self.index)
        except CellExecutionComplete:
            pass
        except Exception:  # never break the test run: this copy is just not written
            self.complete = False

    def write(self, directory: Path, name: str) -> None:
        import nbformat

        # numbered as a run from the top numbers them (nbval's kernel does not count)
        for count, index in enumerate(self.executed, start=1):
            cell = self.nb.cells[index]
            cell.execution_count = count
            for out in cell.outputs:
                if out.output_type == "execute_result":
                    out.execution_count = count
        self.client.set_widgets_metadata()
        directory.mkdir(parents=True, exist_ok=True)
        nbformat.write(self.nb, directory / name)


def _copies(item):
    """The executed copy that ``item`` (an nbval cell) belongs to, or None."""
    directory = item.config.getoption("executed_copies", None)
    if not directory or not hasattr(item, "cell_num") or item.parent.kernel is None:
        return None
    nb_file = item.parent
    if not hasattr(nb_file, "_executed_copy"):
        nb_file._executed_copy = _ExecutedCopy(nb_file)
    return nb_file._executed_copy


def pytest_runtest_call(item):
    copy = _copies(item)
    if copy is not None:
        copy.start(next(i for i, c in enumerate(item.parent.nb.cells) if c is item.cell))


def pytest_runtest_makereport(item, call):
    copy = getattr(getattr(item, "parent", None), "_executed_copy", None)
    if copy is not None and call.excinfo and not call.excinfo.errisinstance(pytest.skip.Exception):
        copy.complete = False


def pytest_runtest_teardown(item, nextitem):
    copy = getattr(getattr(item, "parent", None), "_executed_copy", None)
    if copy is None or (nextitem is not None and nextitem.parent is item.parent):
        return
    if copy.complete:
        copy.write(Path(item.config.getoption("executed_copies")), Path(item.parent.fspath).name)
    del item.parent._executed_copy
