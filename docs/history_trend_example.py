"""A real trend: the unit profile's sst2/seq_bn run 12 times on this machine; from the 7th run on, a planted
library-side change stops adapter weights from learning (as in tests/test_planted.py). Appended to a history."""
import sys
import time

sys.path.insert(0, "/tmp/trend")
import torch

from suite.config.methods import get_method
from suite.config.profiles import cases, get_profile
from suite.engine.run import run_case
from suite.store import history

DB = "/tmp/trend/history.sqlite"
[case] = cases(get_profile("unit"), tasks=["sst2"], methods=[get_method("seq_bn")])
from adapters.methods import modeling

original = modeling.Adapter.forward
def weakened(self, x, residual_input, output_gating=False):
    out = original(self, x, residual_input, output_gating)
    return ((out[0] - out[2]) + out[2].detach(), *out[1:])
for i in range(12):
    torch.set_num_threads(1 + i % 2)  # alternate thread counts: a null change
    modeling.Adapter.forward = weakened if i >= 6 else original
    r = run_case(case)
    r.provenance["git"] = {"commit": f"{'planted' if i >= 6 else 'baseline'}-{i:02d}", "dirty": False}
    history.append(DB, [r])
    print(i, r.metric().mean, flush=True)
    time.sleep(1.1)
