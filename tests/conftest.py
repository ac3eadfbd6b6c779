"""Guards shared by every test module."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _default_dtype_is_restored():
    """Fail loudly if a test changes torch's process-global default dtype and leaves it changed."""
    before = torch.get_default_dtype()
    yield
    after = torch.get_default_dtype()
    torch.set_default_dtype(before)
    assert after == before, f"the test left torch's default dtype at {after}"


@pytest.fixture
def one_thread():
    """One intra-op torch thread for tests of small models: as fast, and no oversubscription of 2 CI cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
