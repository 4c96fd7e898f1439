"""One process or many under ``torchrun``: rank, world size, device, and the few collectives.

Under ``torchrun`` every process takes its slice of each global batch and the features of
all processes are gathered before the loss (``emoret.model.loss.gather_features``), so the
loss and its gradient are those of one process holding the global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from emoret.devices import resolve_device


@dataclass
class Runtime:
    rank: int = 0
    world: int = 1
    device: Any = "cpu"
    distributed: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()


def start_runtime(device: str) -> Runtime:
    import torch  # heavy: imported when training starts, not when the CLI parses flags

    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device)
    cuda = device.startswith("cuda")
    if world > 1:
        import torch.distributed as dist

        local = int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
        if cuda:
            torch.cuda.set_device(local)
        return Runtime(dist.get_rank(), dist.get_world_size(), torch.device(f"cuda:{local}" if cuda else "cpu"), True)
    return Runtime(0, 1, torch.device(device), False)


def stop_runtime(runtime: Runtime) -> None:
    if runtime.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            # Every rank done before any tears gloo down: a rank that left first could abort its
            # peer's pending exchange ("terminate called without an active exception", seen once in CI).
            dist.barrier()
            dist.destroy_process_group()


def broadcast(value: float, runtime: Runtime) -> float:
    """Rank 0's ``value`` on every process."""
    if not runtime.distributed:
        return value
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=runtime.device)
    dist.broadcast(tensor, 0)
    return float(tensor.item())
