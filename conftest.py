"""pytest settings shared by the unit tests and the notebook runs (nbval)."""


def pytest_collection_modifyitems(items):
    # the notebooks run alone are compared with the in-order (nbval) run: they go last
    items.sort(key=lambda item: item.get_closest_marker("alone") is not None)
    # nbval waits only 5 s for each output message after a cell finishes; on a busy 2-core
    # machine a training cell's last progress-bar messages can take longer to arrive.
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 60
