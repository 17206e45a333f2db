"""The official-path timing model of tools/analysis_tools/demt_vs_official.py computes the
function mmdense's DeMT head reproduces, so the speed figures of configs/demt/README.md compare
equal outputs."""
import importlib.util
from pathlib import Path

import torch

from mmdense.models.heads import DeMTHead
from mmdense.models.heads.demt.demt_checkpoint import convert_demt_head

from .test_demt_head import NYUD, random_official_head, reference_forward, small_feats

SCRIPT = Path(__file__).resolve().parents[1] / 'tools/analysis_tools/demt_vs_official.py'


def _load_script():
    spec = importlib.util.spec_from_file_location('demt_vs_official', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_official_path_head_matches_reference_and_mmdense():
    tasks, channels = NYUD
    in_channels, dim = [4, 6, 8, 10], 32
    official = _load_script().OfficialPathDemtHead(in_channels, tasks, channels, dim).double()
    sd = random_official_head(in_channels, tasks, channels, dim)
    official.load_state_dict(sd, strict=True)
    official.eval()
    head = DeMTHead(in_channels, tasks, channels, channels=dim).double().eval()
    head.load_state_dict(convert_demt_head(sd, tasks, dim), strict=True)
    feats = small_feats(2, in_channels, size=(5, 6))
    with torch.no_grad():
        mine = head(feats)
        batched = official(feats, (5, 6))
        for i in range(2):
            one = [f[i:i + 1] for f in feats]
            ref = reference_forward(sd, one, tasks, 4, (5, 6))
            alone = official(one, (5, 6))
            for t in tasks:
                torch.testing.assert_close(alone[t], ref[t], rtol=1e-9, atol=1e-9)
                torch.testing.assert_close(mine[t][i:i + 1], ref[t], rtol=1e-9, atol=1e-9)
        # The official path mixes the images of a batch; mmdense does not.
        assert max((batched[t] - mine[t]).abs().max().item() for t in tasks) > 1e-3
