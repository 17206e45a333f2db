# DeMT, MPViT-S, NYUD-v2: the HRNet config with the backbone swapped (no published DeMT result).
# Drop path 0.2, SyncBN with trained statistics (norm_eval=False): the MPViT-S dense recipe
# (official semantic_segmentation UperNet config). MPViT-S stage outputs: 128/216/288/288.
_base_ = './nyud_hrnet.py'
# The official ImageNet-1k MPViT-S weights (mpvit_small.pth), converted with
#   python tools/model_converters/mpvit2mmdense.py mpvit_small.pth <this path>
checkpoint_file = 'pretrained/mpvit-s_in1k-224_mmdense.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='MPViT',
        arch='small',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.2,
        norm_cfg=_base_.norm_cfg,
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[128, 216, 288, 288]))
