# Semantic FPN (mmseg FPN neck + FPNHead) with a DAT++ backbone (DAT++-T channels): the DAT v1
# FPN base with the backbone replaced. After LeapLabTHU/DAT-Segmentation
# configs/_base_/models/fpn_dat.py merged with configs/dat/fpn_tiny_80k_dp04_lr2.py.
_base_ = ['./fpn_dat.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='DATPlusPlus',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.4,
        # use_checkpoint=False in the official FPN base config (fpn_dat.py:40)
        with_cp=False),
    neck=dict(in_channels=[64, 128, 256, 512]))
