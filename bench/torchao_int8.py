"""Why int8 uses torch.ao and not torchao: both on a stack of linears shaped like Pop2Piano's decoder.

    pip install torchao && python bench/torchao_int8.py

Six layers of the decoder's widest linears (512→512, 512→2048, 2048→512), fp32 against
``torch.ao.quantization.quantize_dynamic`` (what ``--precision int8`` uses) and torchao's
``Int8DynamicActivationInt8WeightConfig`` in eager mode (the engine does not use torch.compile: its
decode loop changes shapes every step), for a short clip's 14 rows and a song's 78. torchao is
not a dependency of the bridge; install it to run this.
"""
import copy
import os
import sys
import time
import warnings

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_machine import describe  # noqa: E402

warnings.filterwarnings("ignore")
torch.manual_seed(0)
def layer():
    return nn.Sequential(nn.Linear(512, 512, bias=False), nn.Linear(512, 2048, bias=False), nn.Linear(2048, 512, bias=False))
model = nn.Sequential(*[layer() for _ in range(6)]).eval()
def timeit(m, rows, reps=60):
    x = torch.randn(rows, 512)
    with torch.inference_mode():
        for _ in range(5): m(x)
        t = time.perf_counter()
        for _ in range(reps): m(x)
    return (time.perf_counter() - t) / reps * 1000
ao = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)
import torchao  # noqa: E402
from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_  # noqa: E402

tao = copy.deepcopy(model); quantize_(tao, Int8DynamicActivationInt8WeightConfig())
print(describe())
print("torchao", torchao.__version__)
for rows in (14, 78):
    print(f"rows {rows}: fp32 {timeit(model, rows):.2f} ms  torch.ao int8 {timeit(ao, rows):.2f} ms  torchao int8 (eager) {timeit(tao, rows):.2f} ms")
