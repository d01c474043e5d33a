"""tests/cuda runs only where there is a CUDA GPU: elsewhere it is an error, not a silent skip."""
import pytest
import torch

if not torch.cuda.is_available():
    raise pytest.UsageError(f"tests/cuda needs a CUDA GPU and a CUDA build of torch (this is torch "
                            f"{torch.__version__} without one); `make test` runs the CPU tests")
