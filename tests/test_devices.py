import pytest
import torch

from emoret.devices import resolve_device
from emoret.errors import InputError


def test_auto_picks_cuda_only_where_present():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


def test_unknown_device_is_refused_in_one_line():
    with pytest.raises(InputError, match="unknown device 'tpu'"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_refused():
    with pytest.raises(InputError, match="CUDA is not available"):
        resolve_device("cuda")
