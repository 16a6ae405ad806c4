"""torch.poisson against numpy's Generator.poisson for one severity of shot noise (10,000
images, c = 60), side by side in one process."""

import time

import numpy as np
import torch

x = torch.randint(0, 256, (10000, 3, 32, 32), dtype=torch.uint8)
lam = x.float().mul_(60.0 / 255.0)
g = torch.Generator().manual_seed(0)
for _ in range(2):
    t = time.perf_counter()
    a = torch.poisson(lam, generator=g)
    ta = time.perf_counter() - t
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    b = rng.poisson(lam.numpy().astype(np.float64))
    tb = time.perf_counter() - t
    print(f"torch {ta:.2f} s  numpy {tb:.2f} s", a.mean().item(), b.mean())
