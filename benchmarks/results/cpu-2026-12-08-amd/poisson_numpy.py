import time, torch, numpy as np
x = torch.randint(0, 256, (10000, 3, 32, 32), dtype=torch.uint8)
c = 60.0
lam = x.float().mul_(c / 255.0)
g = torch.Generator().manual_seed(0)
for _ in range(2):
    t = time.perf_counter(); a = torch.poisson(lam, generator=g); ta = time.perf_counter() - t
    rng = np.random.default_rng(0)
    t = time.perf_counter(); b = rng.poisson(lam.numpy().astype(np.float64)); tb = time.perf_counter() - t
    print(f"torch {ta:.2f} s  numpy {tb:.2f} s", a.mean().item(), b.mean())
