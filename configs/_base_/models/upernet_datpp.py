# UperNet with a DAT++ backbone (DAT++-T channels): the DAT v1 UperNet base with the backbone
# replaced; method configs set arch, drop path and the pretrained checkpoint. After
# LeapLabTHU/DAT-Segmentation configs/_base_/models/upernet_dat.py merged with
# configs/dat/upn_tiny_160k_dp03_lr6.py (backbone and heads).
_base_ = ['./upernet_dat.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='DATPlusPlus',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        # use_checkpoint=True in the official UperNet base config (upernet_dat.py:40)
        with_cp=True),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
