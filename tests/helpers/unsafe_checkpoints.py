"""Checkpoint files for the safety tests: one that runs code when unpickled, corrupt ones."""
import pickle

import torch


class Payload:
    """Unpickling this runs code: it writes ``marker`` (what a crafted checkpoint would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f'open({self.marker!r}, "w").write("pwned")', )


def write_evil(path, marker, legacy=False):
    """A plausible checkpoint (real weights) with the payload hidden in its meta."""
    ckpt = dict(state_dict=torch.nn.Linear(2, 1).state_dict(), meta=dict(note=Payload(marker)))
    if str(path).endswith('.pkl'):
        ckpt['model'] = {k: v.numpy() for k, v in ckpt.pop('state_dict').items()}
        with open(path, 'wb') as f:
            pickle.dump(ckpt, f)
    else:
        torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)
    return str(path)


def garbage_files(tmp_path):
    ckpt = str(tmp_path / 'good.pth')
    torch.save(dict(state_dict=torch.nn.Linear(64, 64).state_dict()), ckpt)
    with open(ckpt, 'rb') as f:
        data = f.read()
    files = {}
    for name, content in [('garbage.pth', b'this is not a checkpoint at all' * 10),
                          ('empty.pth', b''),
                          ('truncated.pth', data[:len(data) // 2]),
                          ('garbage.pkl', b'\x80\x04not a pickle')]:
        files[name] = str(tmp_path / name)
        with open(files[name], 'wb') as f:
            f.write(content)
    return files
