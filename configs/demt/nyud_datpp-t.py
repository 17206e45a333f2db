# DeMT, DAT++-T, NYUD-v2: the DAT-T config with the DAT++-T backbone (no published DeMT result).
# Drop path 0.3: the DAT++-T UperNet recipe (LeapLabTHU/DAT-Segmentation
# configs/dat/upn_tiny_160k_dp03_lr6.py:29). DAT++-T stage outputs: 64/128/256/512, each after
# its own LayerNorm.
_base_ = './nyud_dat-t.py'
# The official ImageNet-1k DAT++-T weights (LeapLabTHU/DAT), converted with
#   python tools/model_converters/dat2mmdense.py dat_pp_tiny_in1k_224.pth <this path>
checkpoint_file = 'pretrained/datpp-t_in1k-224_mmdense.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='DATPlusPlus',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[64, 128, 256, 512]))
