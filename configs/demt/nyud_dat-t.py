# DeMT, DAT-T, NYUD-v2: the HRNet config with the backbone swapped (no published DeMT result).
# Drop path 0.3: the DAT-T dense recipe (official DAT-Segmentation UperNet config); a LayerNorm
# on every output, as the official segmentation backbone. DAT-T stage outputs: 96/192/384/768.
_base_ = './nyud_hrnet.py'
# The official ImageNet-1k DAT-T weights, converted with
#   python tools/model_converters/dat2mmdense.py dat_tiny_in1k_224.pth <this path>
checkpoint_file = 'pretrained/dat-t_in1k-224_mmdense.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='DAT',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        out_norm=True,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[96, 192, 384, 768]))
