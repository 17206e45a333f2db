# UperNet + MPViT-T on ADE20K, 160k iterations, 8 GPUs x 2 images. The paper and the official
# code give no ADE20K setting for T: the MPViT-S recipe with drop path 0.1 (our choice).
_base_ = './upernet_mpvit-s_8xb2-160k_ade20k-512x512.py'
# No official segmentation checkpoint: the ImageNet-1k classification release mpvit_tiny.pth,
#   python tools/model_converters/mpvit2mmdense.py mpvit_tiny.pth <this path>
checkpoint_file = 'pretrained/mpvit-t_in1k-224_mmdense.pth'
model = dict(
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[96, 176, 216, 216]),
    auxiliary_head=dict(in_channels=216))
