"""Every code block of the READMEs is checked, so that the examples cannot rot.

The READMEs are README.md, data/README.md and the method READMEs configs/*/README.md. Each
fenced block is one test, named ``<file>:L<line of the opening fence>``, handled by its language:

- ``python`` with ``_base_``: a config. It is written where it says it lives (a first-line
  comment ``# configs/.../name.py``; else next to the README) in a copy of ``configs/``, loaded
  with ``Config.fromfile`` and its model built on CPU (and the evaluators it sets).
- ``python`` without ``_base_``: a config fragment. Every ``type`` it names must be registered;
  it is executed and its ``backbone`` dict built (without the pretrained ``init_cfg``).
- ``bash``/``shell``: commands. For every ``python tools/X.py ...``, ``bash tools/X.sh ...`` and
  ``python -m module ...`` line, the script exists, each repository path it names exists (a
  config also loads), and the arguments parse with the tool's own argparse parser (nothing is
  run). Dataset, checkpoint and output paths (data/, work_dirs/, pretrained/, *.pth ...) are
  parsed only. Placeholders of synopsis lines (``CONFIG``, ``CKPT``, ``[--opt]``) are replaced
  by the values of ``PLACEHOLDERS``.
- ``text`` and ``bibtex``: not code (file trees, output samples, citations), skipped.

A block that cannot be checked carries a marker on the line before its fence, with a reason:
``<!-- docs-test: skip (reason) -->``, or ``<!-- docs-test: parse-only (reason) -->`` for a
python fragment that is compiled and type-checked but neither run nor built (a skeleton with
``...``). Any other block fails.

Here commands are parsed, not run. What the quick start runs is run for real elsewhere:
``bash tools/run.sh test`` is the CI entry point (.ci/run). The steps of ``bash tools/run.sh
quickstart`` (tools/misc/quickstart.sh) are run one by one: make_synthetic_nyud.py and train.py
on the quickstart config by tests/test_mtl_e2e.py; test.py on a DeMT config by
tests/test_demt_recipe.py, with --show-dir by tests/test_tools_e2e.py (on a single-task config)
and the multi-task drawing hook by tests/test_multitask_visualizer.py. The script itself is not
run by a test (it writes data/synthetic_nyud inside the repository).
"""
from __future__ import annotations

import ast
import copy
import functools
import glob
import importlib.util
import os
import os.path as osp
import re
import shlex
import shutil
import sys
import textwrap
from dataclasses import dataclass

import pytest
from mmengine.config import Config
from mmengine.registry import METRICS, MODELS, DefaultScope, Registry

from mmdense import registry as mmdense_registry
from mmdense.utils import register_all_modules
from mmdense.utils.cli import UserInputError, load_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = ['README.md', 'data/README.md'] + sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', '*', 'README.md')))
NOT_CODE = {'text', 'bibtex'}
SHELL = {'bash', 'shell', 'sh'}
MARKER = re.compile(r'<!--\s*docs-test:\s*(skip|parse-only)\s*\((.+)\)\s*-->')
# Values for the placeholders of synopsis lines ("python tools/test.py CONFIG CHECKPOINT").
PLACEHOLDERS = {
    'CONFIG': 'configs/demt/nyud_hrnet.py', 'CHECKPOINT': 'ckpt.pth', 'CKPT': 'ckpt.pth',
    'IMG': 'demo.png', 'H': '448', 'W': '576', 'PARTITION': 'partition',
    'KEY=VALUE': 'train_cfg.max_iters=10',
}
# Paths under these must exist; others (datasets, checkpoints, outputs) are parsed only.
REPO_DIRS = ('configs/', 'tools/', 'mmdense/', 'tests/')


@dataclass
class Block:
    doc: str
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    marker: tuple[str, str] | None  # (kind, reason)

    @property
    def id(self):
        return f'{self.doc}:L{self.line}'


def parse_blocks(doc: str, text: str) -> list[Block]:
    """The fenced blocks of a markdown text, with the docs-test marker before each."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        fence = re.match(r'^(\s*)```(\S*)\s*$', lines[i])
        if not fence:
            i += 1
            continue
        start, prev = i, i - 1
        while prev >= 0 and not lines[prev].strip():
            prev -= 1
        marker = MARKER.search(lines[prev]) if prev >= 0 else None
        i += 1
        body = []
        while i < len(lines) and not re.match(r'^\s*```\s*$', lines[i]):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f'{doc}:{start + 1}: code block is not closed')
        # A block inside a list item is indented like its fence.
        code = textwrap.dedent('\n'.join(body)) + '\n'
        blocks.append(Block(doc, start + 1, fence.group(2), code,
                            marker.groups() if marker else None))
        i += 1
    return blocks


def _all_blocks():
    blocks = []
    for doc in DOCS:
        with open(osp.join(ROOT, doc), encoding='utf-8') as f:
            blocks += parse_blocks(doc, f.read())
    return blocks


BLOCKS = _all_blocks()


# --------------------------------------------------------------------------- python blocks


@pytest.fixture(scope='module')
def config_tree(tmp_path_factory):
    """A copy of configs/ where config snippets are written (the repository stays as is)."""
    root = tmp_path_factory.mktemp('docs')
    shutil.copytree(osp.join(ROOT, 'configs'), root / 'configs')
    return root


def _build(cfg_model: dict, scope: str):
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg_model)


def _registered_types(node: ast.AST) -> list[str]:
    """The string values of every ``type=`` keyword in the code."""
    return [kw.value.value for kw in ast.walk(node) if isinstance(kw, ast.keyword)
            and kw.arg == 'type' and isinstance(kw.value, ast.Constant)
            and isinstance(kw.value.value, str)]


def check_config_block(block: Block, tree) -> None:
    first = block.code.lstrip().splitlines()[0]
    named = re.match(r'#\s*(configs/\S+\.py)\s*$', first)
    rel = named.group(1) if named else osp.join(osp.dirname(block.doc), '_docs_example.py')
    assert rel.startswith('configs/'), (
        f'{block.id}: a config snippet needs a first line "# configs/<dir>/<name>.py" saying '
        'where it lives')
    path = tree / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block.code)
    cfg = Config.fromfile(str(path))
    scope = cfg.get('default_scope', 'mmdense')
    model = copy.deepcopy(cfg.model.to_dict())
    _build(model, scope)
    assigned = {t.id for node in ast.parse(block.code).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    for name in sorted(assigned):
        if name.endswith('_evaluator'):
            with DefaultScope.overwrite_default_scope(scope):
                METRICS.build(cfg[name].to_dict())


def check_fragment_block(block: Block, build: bool) -> None:
    """Every ``type`` is registered; with ``build``, the fragment runs and its backbone builds
    (parse-only blocks, e.g. skeletons with ``...``, are compiled, not run)."""
    register_all_modules(init_default_scope=False)
    registries = [r for r in vars(mmdense_registry).values() if isinstance(r, Registry)]
    for name in _registered_types(ast.parse(block.code, block.id)):
        if name.startswith('My'):
            continue  # by the READMEs' convention, a class the user writes
        assert any(r.get(name) for r in registries), (
            f'{block.id}: type {name!r} is not registered')
    if build:
        namespace: dict = {}
        exec(compile(block.code, block.id, 'exec'), namespace)
        assert 'backbone' in namespace, (
            f'{block.id}: a python fragment defines a backbone dict to build (or is marked '
            '<!-- docs-test: parse-only (reason) -->)')
        backbone = dict(namespace['backbone'], init_cfg=None)
        _build(backbone, 'mmdense')


# --------------------------------------------------------------------------- shell blocks


def command_lines(code: str) -> list[list[str]]:
    """The commands of a shell block as argument lists: continuation lines joined, comments and
    leading ``VAR=value`` assignments dropped, synopsis brackets and placeholders resolved."""
    joined = code.replace('\\\n', ' ')
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        while words and re.match(r'^[A-Z_]+=\S*$', words[0]):
            words = words[1:]
        if not words:
            continue
        words = [w.strip('[]') for w in words]
        words = [PLACEHOLDERS.get(w, w) for w in words if w and w != '...']
        commands.append(words)
    return commands


@functools.cache
def _load_module(path: str):
    name = '_docs_' + re.sub(r'\W', '_', osp.relpath(path, ROOT))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _load_config(rel: str):
    return Config.fromfile(osp.join(ROOT, rel))


def parse_with_tool(where: str, module, argv: list[str], monkeypatch) -> object:
    """``module.parse_args()`` on ``argv`` as the command line; argparse's error fails."""
    assert hasattr(module, 'parse_args'), f'{where}: {module.__name__} has no parse_args()'
    monkeypatch.setattr(sys, 'argv', [module.__name__] + argv)
    monkeypatch.setenv('LOCAL_RANK', os.environ.get('LOCAL_RANK', '0'))  # train.py sets it
    try:
        args = module.parse_args()
    except SystemExit as e:
        pytest.fail(f'{where}: arguments {argv} do not parse (exit {e.code})')
    config, options = getattr(args, 'config', None), getattr(args, 'cfg_options', None)
    if options and isinstance(config, str) and config.startswith('configs/'):
        # as the tools do: every key of --cfg-options must exist, with a value of its type
        try:
            load_config(osp.join(ROOT, config), options)
        except UserInputError as e:
            pytest.fail(f'{where}: --cfg-options: {e}')
    return args


def check_paths(where: str, words: list[str]) -> None:
    """Repository paths named by the command exist; configs load."""
    for word in words:
        for value in re.split(r'[=,]', word):
            if not value.startswith(REPO_DIRS):
                continue
            assert osp.exists(osp.join(ROOT, value)), f'{where}: {value} does not exist'
            if value.startswith('configs/') and value.endswith('.py'):
                _load_config(value)


# Shell launchers: (their usage line, the python tool they call, its argv from the launcher's).
LAUNCHERS = {
    'tools/dist_train.sh': ('tools/dist_train.sh CONFIG GPUS [train.py args]', 'tools/train.py',
                            lambda a: [a[0], '--launcher', 'pytorch'] + a[2:], [1]),
    'tools/dist_test.sh': ('tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]',
                           'tools/test.py',
                           lambda a: [a[0], a[1], '--launcher', 'pytorch'] + a[3:], [2]),
    'tools/slurm_train.sh': ('tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR '
                             '[train.py args]', 'tools/train.py',
                             lambda a: [a[2], f'--work-dir={a[3]}', '--launcher=slurm'] + a[4:],
                             []),
    'tools/slurm_test.sh': ('tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT '
                            '[test.py args]', 'tools/test.py',
                            lambda a: [a[2], a[3], '--launcher=slurm'] + a[4:], []),
}


def check_command(where: str, words: list[str], monkeypatch) -> None:
    prog, args = words[0], words[1:]
    assert prog in ('python', 'bash'), (
        f'{where}: {shlex.join(words)!r} is not a repository command; mark the block '
        '<!-- docs-test: skip (reason) --> if it cannot be checked')
    if prog == 'python' and args[:1] == ['-m']:
        module_name, argv = args[1], args[2:]
        spec = importlib.util.find_spec(module_name)
        assert spec is not None, f'{where}: no module {module_name}'
        parse_with_tool(where, importlib.import_module(module_name), argv, monkeypatch)
        return
    script, argv = args[0], args[1:]
    assert osp.isfile(osp.join(ROOT, script)), f'{where}: {script} does not exist'
    check_paths(where, args)
    if script.endswith('.py'):
        assert prog == 'python', f'{where}: run {script} with python'
        parse_with_tool(where, _load_module(osp.join(ROOT, script)), argv, monkeypatch)
    elif script == 'tools/run.sh':
        with open(osp.join(ROOT, script)) as f:
            subcommands = re.findall(r'^  (\w+)\)', f.read(), re.M)
        assert argv[:1] and argv[0] in subcommands, (
            f'{where}: tools/run.sh takes one of {subcommands}, not {argv}')
    elif script in LAUNCHERS:
        usage, tool, to_tool, numeric = LAUNCHERS[script]
        with open(osp.join(ROOT, script)) as f:
            assert usage in f.read(), f'{script} changed its usage: update LAUNCHERS'
        n_positional = len(usage.split()) - 3  # the script's name and "[x.py args]"
        assert len(argv) >= n_positional, f'{where}: {script} needs {usage}'
        for i in numeric:
            assert argv[i].isdigit(), f'{where}: {script}: {argv[i]!r} is not a number'
        parse_with_tool(where, _load_module(osp.join(ROOT, tool)), to_tool(argv), monkeypatch)
    else:
        pytest.fail(f'{where}: no check for {script}; teach tests/test_docs.py how it parses')


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize('block', BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_block(block, config_tree, monkeypatch):
    kind = block.marker[0] if block.marker else None
    if kind == 'skip':
        pytest.skip(f'{block.id}: marked: {block.marker[1]}')
    if block.lang in NOT_CODE:
        return
    if block.lang == 'python':
        if '_base_' in block.code:
            check_config_block(block, config_tree)
        else:
            check_fragment_block(block, build=kind != 'parse-only')
    elif block.lang in SHELL:
        assert kind is None, f'{block.id}: parse-only is for python fragments'
        commands = command_lines(block.code)
        assert commands, f'{block.id}: empty shell block'
        for words in commands:
            check_command(block.id, words, monkeypatch)
    else:
        pytest.fail(f'{block.id}: language {block.lang!r} is not handled: tag it text (not '
                    'code) or mark it <!-- docs-test: skip (reason) -->')


def test_every_readme_is_read():
    assert {'README.md', 'data/README.md', 'configs/demt/README.md', 'configs/kmax/README.md',
            'configs/dat/README.md', 'configs/mpvit/README.md',
            'configs/hrformer/README.md'} <= set(DOCS)
    assert len(BLOCKS) > 40


def test_parsing_of_blocks_and_commands():
    text = ('x\n```bash\npython a.py \\\n  --x 1  # note\n```\n\n<!-- docs-test: skip (needs '
            'a GPU) -->\n\n```python\nprint(1)\n```\n```text\nout\n```\n')
    blocks = parse_blocks('X.md', text)
    assert [(b.line, b.lang, b.marker) for b in blocks] == [
        (2, 'bash', None), (9, 'python', ('skip', 'needs a GPU')), (12, 'text', None)]
    assert command_lines(blocks[0].code) == [['python', 'a.py', '--x', '1']]
    assert command_lines('GPUS=8 bash tools/t.sh CONFIG [--tta] [--cfg-options KEY=VALUE ...]\n') \
        == [['bash', 'tools/t.sh', 'configs/demt/nyud_hrnet.py', '--tta', '--cfg-options',
             'train_cfg.max_iters=10']]
    with pytest.raises(ValueError, match='X.md:1: code block is not closed'):
        parse_blocks('X.md', '```bash\nls\n')


FAILED = pytest.fail.Exception


@pytest.mark.parametrize('line,exception,error', [
    ('python tools/train.py configs/demt/nyud_hrnet.py --no-such-option', FAILED, 'do not parse'),
    ('python tools/train.py configs/demt/nyud_hrnet.py --cfg-options model.backbone.nit_cfg=None',
     FAILED, 'model.backbone.nit_cfg'),
    ('python tools/train.py configs/demt/no_such_config.py', AssertionError, 'does not exist'),
    ('python tools/no_such_tool.py', AssertionError, 'does not exist'),
    ('bash tools/dist_train.sh configs/demt/nyud_hrnet.py eight', AssertionError,
     'is not a number'),
    ('bash tools/run.sh quickstar', AssertionError, 'tools/run.sh takes one of'),
    ('csCreateTrainIdLabelImgs', AssertionError, 'is not a repository command'),
])
def test_broken_commands_fail(line, exception, error, monkeypatch):
    with pytest.raises(exception, match=error):
        for words in command_lines(line):
            check_command('X.md:L1', words, monkeypatch)


def test_broken_fragment_fails():
    block = Block('X.md', 1, 'python', "backbone = dict(type='MPViT', arch='tiny', typo=1)\n",
                  None)
    with pytest.raises(TypeError, match='typo'):
        check_fragment_block(block, build=True)
    block.code = "backbone = dict(type='NoSuchBackbone')\n"
    with pytest.raises(AssertionError, match="'NoSuchBackbone' is not registered"):
        check_fragment_block(block, build=False)
