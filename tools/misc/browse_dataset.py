"""Draw the ground truth of a dataset, after its pipeline, to check data and augmentation.

    python tools/misc/browse_dataset.py CONFIG [--output-dir DIR] [--phase train|val|test]
        [--num N] [--not-show] [--show-interval S] [--cfg-options k=v ...]

Uses the config's visualizer, so it works for multi-task (mmdense), segmentation (mmseg) and
pose (mmpose) configs.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(description='Browse a dataset')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--output-dir', default=None, help='directory to save the pictures')
    parser.add_argument('--phase', default='train', choices=['train', 'val', 'test'])
    parser.add_argument('--num', type=int, default=None, help='number of samples to draw')
    parser.add_argument('--not-show', default=False, action='store_true')
    parser.add_argument('--show-interval', type=float, default=2)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    args = parse_args()
    from mmengine.registry import DATASETS, VISUALIZERS, DefaultScope
    from mmengine.utils import ProgressBar

    import mmdense  # noqa: F401
    from mmdense.utils import register_all_modules
    from mmdense.utils.cli import UserInputError, check_data_roots, load_config

    loader = f'{args.phase}_dataloader'
    try:
        cfg = load_config(args.config, args.cfg_options)
        check_data_roots(cfg, [loader])
    except UserInputError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    scope = cfg.get('default_scope', 'mmdense')
    if scope == 'mmdense':
        register_all_modules(init_default_scope=False)
    DefaultScope.get_instance('browse_dataset', scope_name=scope)

    dataset = DATASETS.build(cfg[loader].dataset)
    visualizer = VISUALIZERS.build(cfg.visualizer)
    visualizer.dataset_meta = dataset.metainfo
    num = len(dataset) if args.num is None else min(args.num, len(dataset))
    progress = ProgressBar(num)
    for i in range(num):
        item = dataset[i]
        img = item['inputs'].permute(1, 2, 0).numpy()[..., [2, 1, 0]]  # BGR -> RGB
        sample = item['data_samples'].numpy()
        img_path = sample.metainfo.get('img_path', f'{i}.png')
        name = osp.splitext(osp.basename(img_path))[0]
        out_file = osp.join(args.output_dir, f'{name}.png') if args.output_dir else None
        visualizer.add_datasample(
            name, img, sample, draw_gt=True, draw_pred=False, show=not args.not_show,
            wait_time=args.show_interval, out_file=out_file)
        progress.update()


if __name__ == '__main__':
    main()
