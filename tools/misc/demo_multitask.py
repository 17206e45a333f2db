"""Predict every task of a multi-task model on one image and draw the result.

    python tools/misc/demo_multitask.py IMG CONFIG CHECKPOINT --out FIG.png [--device cpu]
                                        [--cfg-options k=v ...]

The figure shows the input image and one panel per task (segmentation in the dataset palette,
depth colour map, normals as RGB, boundary and saliency probabilities), drawn by
:class:`mmdense.visualization.MultiTaskVisualizer`.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw the multi-task predictions of a model on one image')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output figure (e.g. demo.png)')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--panel-size', type=int, default=320,
                        help='width in pixels of each panel of the figure')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries; every key must exist in the config')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)

    import mmdense  # noqa: F401  (applies the upstream compatibility patches)
    from mmdense.utils.cli import UserInputError, load_config

    try:
        if not osp.isfile(args.img):
            raise UserInputError(f"image '{args.img}' does not exist.")
        if not osp.isfile(args.checkpoint):
            raise UserInputError(f"checkpoint '{args.checkpoint}' does not exist.")
        cfg = load_config(args.config, args.cfg_options)
    except UserInputError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)

    import mmcv

    from mmdense.apis import inference_model, init_model
    from mmdense.visualization import MultiTaskVisualizer

    model = init_model(cfg, args.checkpoint, device=args.device)
    result = inference_model(model, args.img)

    visualizer = MultiTaskVisualizer(name='demo_multitask', panel_size=args.panel_size)
    visualizer.dataset_meta = model.dataset_meta
    image = mmcv.imread(args.img, channel_order='rgb')
    visualizer.add_datasample(osp.basename(args.img), image, result, draw_gt=False,
                              out_file=args.out)
    print(f'wrote {args.out} (tasks: {", ".join(result.metainfo.get("tasks", []))})')


if __name__ == '__main__':
    main()
