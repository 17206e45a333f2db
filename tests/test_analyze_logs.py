"""tools/analysis_tools/analyze_logs.py plot_curve on hand-written scalars.json files."""
import importlib.util
import json
import os.path as osp

import pytest

from tests.helpers.seg_fixture import REPO

spec = importlib.util.spec_from_file_location(
    'analyze_logs', osp.join(REPO, 'tools', 'analysis_tools', 'analyze_logs.py'))
analyze_logs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(analyze_logs)


def _write_run(work, timestamp, rows):
    vis = work / timestamp / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return vis / 'scalars.json'


def _multitask_rows(start, stop):
    rows = []
    for it in range(start, stop + 1, 10):
        rows.append(dict(lr=1e-3, data_time=0.1, loss=3.0 - it / 100, loss_semseg=2.0 - it / 100,
                         loss_depth=1.0, time=0.5, iter=it, step=it))
        if it % 20 == 0:
            rows.append({'semseg/mIoU': it / 2, 'semseg/IoU.wall': 50.0,
                         'depth/rmse': 1.0 - it / 100, 'depth/delta1': 0.5,
                         'normals/11.25': 30.0, 'data_time': 0.1, 'time': 0.2, 'step': it})
    return rows


def test_groups_per_task():
    train = [dict(lr=0.1, loss=1.0, loss_semseg=0.6, loss_depth=0.4, iter=1, step=1)]
    val = [{'semseg/mIoU': 1.0, 'semseg/IoU.wall': 2.0, 'depth/rmse': 0.5, 'normals/11.25': 3.0,
            'time': 0.1, 'step': 1}]
    groups = analyze_logs.group_keys(train, val)
    assert groups == {'overall': (['loss'], []),
                      'semseg': (['loss_semseg'], ['semseg/mIoU']),
                      'depth': (['loss_depth'], ['depth/rmse']),
                      'normals': ([], ['normals/11.25'])}
    # A per-class metric is drawn when asked for.
    assert analyze_logs.group_keys(train, val, ['semseg/IoU.wall', 'loss']) == {
        'overall': (['loss'], []), 'semseg': ([], ['semseg/IoU.wall'])}
    with pytest.raises(analyze_logs.LogError, match=r"keys \['mDice'\] are not in the log"):
        analyze_logs.group_keys(train, val, ['mDice'])


def test_single_task_run_groups_into_overall():
    train = [{'loss': 1.0, 'decode.loss_ce': 0.8, 'aux.loss_ce': 0.2, 'lr': 0.1, 'iter': 1}]
    val = [{'mIoU': 40.0, 'mAcc': 50.0, 'aAcc': 80.0, 'step': 1}]
    assert analyze_logs.group_keys(train, val) == {
        'overall': (['loss', 'decode.loss_ce', 'aux.loss_ce'], ['mIoU', 'mAcc', 'aAcc'])}


def test_plot_curve_work_dir_with_resumed_run(tmp_path, capsys):
    work = tmp_path / 'work_dirs' / 'demt'
    _write_run(work, '20260101_000000', _multitask_rows(10, 40))
    _write_run(work, '20260102_000000', _multitask_rows(50, 80))  # resumed
    train, val = analyze_logs.load_scalars(str(work))
    assert [r['iter'] for r in train] == list(range(10, 81, 10))
    assert [r['step'] for r in val] == [20, 40, 60, 80]
    out = tmp_path / 'curves.png'
    analyze_logs.main(['plot_curve', str(work), '--out', str(out), '--title', 'DeMT'])
    printed = capsys.readouterr().out
    assert 'semseg: loss_semseg, semseg/mIoU' in printed
    assert 'IoU.wall' not in printed
    import matplotlib.image as mpimg
    img = mpimg.imread(str(out))
    # 4 rows (overall, semseg, depth, normals) of 3.2 in at 100 dpi, 12 in wide.
    assert img.shape[:2] == (1280, 1200)


def test_plot_curve_errors(tmp_path):
    with pytest.raises(SystemExit) as e:
        analyze_logs.main(['plot_curve', str(tmp_path / 'missing'), '--out',
                           str(tmp_path / 'x.png')])
    assert e.value.code == 2
    bad = _write_run(tmp_path / 'w', 't', [dict(loss=1.0, iter=1)])
    with open(bad, 'a') as f:
        f.write('{"loss": \n')
    with pytest.raises(analyze_logs.LogError, match=r'scalars.json:2: not a JSON object'):
        analyze_logs.load_scalars(str(bad))
    with pytest.raises(analyze_logs.LogError, match='no \\*/vis_data/scalars.json'):
        analyze_logs.load_scalars(str(tmp_path))
