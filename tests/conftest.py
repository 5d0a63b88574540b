import matplotlib
import pytest
import torch

matplotlib.use("Agg")  # unit tests only; notebooks run in their own kernels


@pytest.fixture(autouse=True)
def _small_threads():
    torch.set_num_threads(2)
    yield
