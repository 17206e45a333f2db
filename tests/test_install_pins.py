"""The install script and pyproject pin the same versions, and the README names the commands."""
import os.path as osp
import re

from tests.helpers.seg_fixture import REPO


def _read(path):
    with open(osp.join(REPO, path)) as f:
        return f.read()


def test_install_script_pins_match_pyproject():
    script = _read('tools/install.sh')
    project = _read('pyproject.toml')
    pins = dict(re.findall(r'^([A-Z_]+)_VERSION=([\w.]+)$', script, re.M))
    assert pins, 'no *_VERSION pins found in tools/install.sh'
    names = {'TORCH': 'torch', 'TORCHVISION': 'torchvision', 'MMCV': 'mmcv',
             'XTCOCOTOOLS': 'xtcocotools', 'PYEDGEEVAL': 'pyEdgeEval'}
    for key, pkg in names.items():
        assert f'"{pkg}=={pins[key]}"' in project, f'{pkg}=={pins[key]} not pinned in pyproject'


def test_installed_versions_match_pins():
    import mmcv
    import mmengine
    import mmpose
    import mmseg
    import torch
    project = _read('pyproject.toml')
    for pkg, version in (('torch', torch.__version__.split('+')[0]), ('mmcv', mmcv.__version__),
                         ('mmengine', mmengine.__version__), ('mmsegmentation', mmseg.__version__),
                         ('mmpose', mmpose.__version__)):
        assert f'"{pkg}=={version}"' in project, f'installed {pkg} {version} differs from pin'


def test_ci_runs_the_readme_test_command():
    readme = _read('README.md')
    ci = _read('.ci/run')
    match = re.search(r'^(bash tools/\S+ test)\s*$', readme, re.M)
    assert match, 'README has no "bash tools/... test" command'
    assert match.group(1) in ci
