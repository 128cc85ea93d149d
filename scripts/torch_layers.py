"""Per-layer forward + backward times of CancerNet in PyTorch eager, at the shapes of `idc-studio bench --layers`.
Usage: python torch_layers.py [--bs 256] [--runs 5] [--device cuda]"""
import argparse, time, statistics
import torch, torch.nn as nn
p = argparse.ArgumentParser(); p.add_argument("--bs", type=int, default=256); p.add_argument("--runs", type=int, default=5)
p.add_argument("--device", default="cuda"); a = p.parse_args()
dev = torch.device(a.device)
def sync():
    if dev.type == "cuda": torch.cuda.synchronize()
def timed(name, layer, shape):
    layer = layer.to(dev).train(); times = []
    for r in range(a.runs + 1):
        x = torch.rand(a.bs, *shape, device=dev, requires_grad=True); sync()
        t = time.perf_counter(); y = layer(x); y.sum().backward(); x.grad.sum().item()
        if r: times.append((time.perf_counter() - t) * 1000)
    m = statistics.median(times); print(f"  {name:<46} {m:8.2f} ms"); return m
total = 0
t = []
for r in range(a.runs + 1):
    s = time.perf_counter(); torch.ones(1, device=dev).sum().item(); t.append((time.perf_counter() - s) * 1000)
print(f"  {'(read one number back from the device)':<46} {statistics.median(t[1:]):8.2f} ms")
for cin, cout, side in [(3, 32, 48), (32, 64, 24), (64, 64, 24), (64, 128, 12), (128, 128, 12), (128, 128, 12)]:
    total += timed(f"depthwise 3x3, {cin} ch, {side}x{side}", nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), (cin, side, side))
    total += timed(f"pointwise 1x1, {cin}->{cout}, {side}x{side}", nn.Conv2d(cin, cout, 1), (cin, side, side))
    total += timed(f"ReLU + batch norm, {cout} ch, {side}x{side}", nn.Sequential(nn.ReLU(), nn.BatchNorm2d(cout)), (cout, side, side))
for c, side in [(32, 48), (64, 24), (128, 12)]:
    total += timed(f"max pool 2x2, {c} ch, {side}x{side}", nn.MaxPool2d(2), (c, side, side))
for c, side in [(32, 24), (64, 12), (128, 6)]:
    total += timed(f"dropout 0.25, {c} ch, {side}x{side}", nn.Dropout(0.25), (c, side, side))
total += timed("dense head 4608->256->2", nn.Sequential(nn.Flatten(), nn.Linear(4608, 256), nn.ReLU(), nn.BatchNorm1d(256), nn.Dropout(0.5), nn.Linear(256, 2)), (128, 6, 6))
print(f"  {'sum of the model layers':<46} {total:8.2f} ms")
