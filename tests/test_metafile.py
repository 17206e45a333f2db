"""The model index (model-index.yml, configs/<method>/metafile.yml) lists exactly the configs.

Listed: every ``configs/<method>/*.py``. Not required: ``_base_`` folders and subfolders of a
method (e.g. ``configs/demt/balancing/``: loss-balancing variants of listed models, without
published results); a subfolder config may still be listed, and must then exist.
"""
import glob
import numbers
import os.path as osp

import pytest
import yaml

from tests.helpers.seg_fixture import REPO


def _load(path):
    with open(osp.join(REPO, path)) as f:
        return yaml.safe_load(f)


def _metafiles():
    return _load('model-index.yml')['Import']


def _models():
    models = []
    for meta in _metafiles():
        for m in _load(meta).get('Models', []):
            models.append((meta, m))
    return models


def test_model_index_imports_every_metafile():
    imports = _metafiles()
    assert len(imports) == len(set(imports))
    for path in imports:
        assert osp.isfile(osp.join(REPO, path)), f'model-index.yml imports missing {path}'
    on_disk = sorted(osp.relpath(p, REPO)
                     for p in glob.glob(osp.join(REPO, 'configs', '*', 'metafile.yml')))
    assert sorted(imports) == on_disk, 'model-index.yml must import every configs/*/metafile.yml'


def test_every_config_listed_and_every_listed_config_exists():
    listed = [m['Config'] for _, m in _models()]
    duplicates = sorted({c for c in listed if listed.count(c) > 1})
    assert not duplicates, f'configs listed twice in the metafiles: {duplicates}'
    missing = sorted(c for c in listed if not osp.isfile(osp.join(REPO, c)))
    assert not missing, f'metafile Config entries that do not exist: {missing}'
    required = sorted(
        osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '*', '*.py'))
        if osp.basename(osp.dirname(p)) != '_base_')
    unlisted = [c for c in required if c not in listed]
    assert not unlisted, (
        f'configs not listed in configs/<method>/metafile.yml: {unlisted}; add a Models entry '
        '(Name, In Collection, Config, Metadata with Training Data; Results and Weights where '
        'known) for each')


def test_every_method_folder_has_a_metafile():
    methods = {osp.basename(osp.dirname(p))
               for p in glob.glob(osp.join(REPO, 'configs', '*', '*.py'))} - {'_base_'}
    for method in sorted(methods):
        assert osp.isfile(osp.join(REPO, 'configs', method, 'metafile.yml')), method


@pytest.mark.parametrize('meta', _metafiles())
def test_metafile_fields(meta):
    data = _load(meta)
    collections = {c['Name']: c for c in data['Collections']}
    for c in collections.values():
        assert c['Paper']['URL'].startswith('https://'), c['Name']
        assert osp.isfile(osp.join(REPO, c['README'])), c['README']
    names = [m['Name'] for m in data['Models']]
    assert len(names) == len(set(names)), f'{meta}: duplicate model names'
    for m in data['Models']:
        where = f"{meta}: {m['Name']}"
        assert m['In Collection'] in collections, where
        assert m['Config'].startswith(osp.dirname(meta) + '/'), where
        assert m['Metadata']['Training Data'], where
        for key in ('Parameters', 'FLOPs'):
            if key in m['Metadata']:
                assert isinstance(m['Metadata'][key], int) and m['Metadata'][key] > 0, where
        for r in m.get('Results', []):
            assert r['Task'] and r['Dataset'], where
            assert r['Metrics'] and all(isinstance(v, numbers.Real)
                                        for v in r['Metrics'].values()), where
        if 'Weights' in m:
            w = m['Weights']
            if not w.startswith('https://'):
                # A converter command: the script must exist.
                parts = w.split()
                assert parts[0] == 'python' and osp.isfile(osp.join(REPO, parts[1])), where


def test_official_results_match_the_readme():
    """Spot checks of metafile figures against the method READMEs' tables."""
    by_name = {m['Name']: m for _, m in _models()}
    swin = by_name['demt_nyud_swin-t']['Results'][0]['Metrics']
    assert swin == {'semseg/mIoU': 46.36, 'depth/rmse': 0.5871, 'normals/mean': 20.60,
                    'edge/odsF': 76.9}
    with open(osp.join(REPO, 'configs/demt/README.md')) as f:
        assert '| Swin-T | 46.36 | 0.5871 | 20.60 | 76.9 |' in f.read()
    kmax = by_name['kmax_r50_8xb8-150k_coco-panoptic-1281x1281']
    assert kmax['Results'][0]['Metrics'] == {'PQ': 53.3}
    assert by_name['upernet_mpvit-s_8xb2-160k_ade20k-512x512']['Results'][0]['Metrics'] == {
        'mIoU': 48.3}
