"""The project stands alone: no code, test, config or document names a path of the machine it
was developed on. Facts the tests need from elsewhere are copied into tests/data/."""
import os
import os.path as osp

import pytest

from tests.helpers.reference import DATA_DIR, load_reference

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The development machine's workspace and its shared folder (built in pieces so that this
# file does not name them itself).
FORBIDDEN = ('/' + 'work/', '..' + '/shared')
# Everything of the repository a user gets: code, tools, tests, configs, documents, CI.
SCANNED_DIRS = ('mmdense', 'tools', 'tests', 'configs', 'docs', '.ci')
SKIPPED_DIRS = {'__pycache__', '.pytest_cache', '.ruff_cache'}


def _scanned_files():
    # README.md, pyproject.toml, model-index.yml, .gitignore (not .git: in a git worktree it
    # is a file naming the main checkout, which is no part of the project)
    files = [osp.join(ROOT, name) for name in sorted(os.listdir(ROOT))
             if osp.isfile(osp.join(ROOT, name)) and name != '.git']
    files.append(osp.join(ROOT, 'data', 'README.md'))
    for top in SCANNED_DIRS:
        for dirpath, dirnames, filenames in os.walk(osp.join(ROOT, top)):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
            files += [osp.join(dirpath, f) for f in sorted(filenames)
                      if not f.endswith(('.pyc', '.pth'))]
    return [f for f in files if osp.isfile(f)]


def find_outside_paths(files):
    """``['path:line: text', ...]`` for every line that names a forbidden path."""
    hits = []
    for path in files:
        with open(path, 'rb') as f:
            data = f.read()
        if not any(word.encode() in data for word in FORBIDDEN):
            continue
        for i, line in enumerate(data.decode('utf-8', 'replace').splitlines(), 1):
            if any(word in line for word in FORBIDDEN):
                hits.append(f'{osp.relpath(path, ROOT)}:{i}: {line.strip()}')
    return hits


def test_no_file_names_a_path_outside_the_repository():
    files = _scanned_files()
    assert any(f.endswith(osp.join('tests', 'test_standalone.py')) for f in files)
    assert len(files) > 200  # the walk really covers the tree
    hits = find_outside_paths(files)
    assert not hits, 'paths outside the repository:\n' + '\n'.join(hits)


def test_the_scan_finds_outside_paths(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text("REF = '/" "work/shared/reference'\nok = 1\nother = '.." "/shared/x.json'\n")
    hits = find_outside_paths([str(bad)])
    assert [h.split(': ')[0].rsplit(':', 1)[1] for h in hits] == ['1', '3']


def test_reference_fixtures_are_tracked_and_complete():
    """Every fixture tests/data/README.md lists is there, and a missing one is an error."""
    with open(osp.join(DATA_DIR, 'README.md')) as f:
        readme = f.read()
    names = sorted(n[:-len('.keys.json')] for n in os.listdir(DATA_DIR)
                   if n.endswith('.keys.json'))
    assert len(names) == 18
    for name in names:
        assert f'`{name}`' in readme, f'tests/data/README.md does not say where {name} comes from'
        ref = load_reference(name)
        assert '@' in ref['source'], name  # repo@commit:path
    with pytest.raises(FileNotFoundError, match='nonexistent_model.keys.json is missing'):
        load_reference('nonexistent_model')
