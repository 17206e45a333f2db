# UperNet + MPViT-XS on ADE20K, 160k iterations, 8 GPUs x 2 images. The paper and the official
# code give no ADE20K setting for XS: the MPViT-S recipe with drop path 0.1 (our choice).
_base_ = './upernet_mpvit-s_8xb2-160k_ade20k-512x512.py'
# No official segmentation checkpoint: the ImageNet-1k classification release mpvit_xsmall.pth,
#   python tools/model_converters/mpvit2mmdense.py mpvit_xsmall.pth <this path>
checkpoint_file = 'pretrained/mpvit-xs_in1k-224_mmdense.pth'
model = dict(
    backbone=dict(
        arch='xsmall',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[128, 192, 256, 256]),
    auxiliary_head=dict(in_channels=256))
