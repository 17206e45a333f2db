"""Print the whole config after inheritance and --cfg-options.

    python tools/misc/print_config.py CONFIG [--cfg-options k=v ...] [--save-path FILE]
"""
import argparse
import sys

from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(description='Print the whole config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries; every key must exist in the config')
    parser.add_argument('--save-path', help='also dump the merged config to this file')
    return parser.parse_args()


def main():
    args = parse_args()
    from mmdense.utils.cli import UserInputError, load_config

    try:
        cfg = load_config(args.config, args.cfg_options)
    except UserInputError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    print(cfg.pretty_text)
    if args.save_path:
        cfg.dump(args.save_path)
        print(f'saved to {args.save_path}')


if __name__ == '__main__':
    main()
