# UperNet + MPViT-B on ADE20K, 160k iterations, 8 GPUs x 2 images (MPViT paper: 50.3 mIoU).
# As the official upernet_mpvit_base_160k_ade20k.py: drop path 0.4 (l.21), otherwise as MPViT-S.
_base_ = './upernet_mpvit-s_8xb2-160k_ade20k-512x512.py'
# The official config loads https://dl.dropbox.com/s/6g44hu0ax71s74h/mpvit_base_mm.pth (l.15):
#   python tools/model_converters/mpvit2mmdense.py mpvit_base_mm.pth <this path>
checkpoint_file = 'pretrained/mpvit-b_in1k-224_mmdense.pth'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[224, 368, 480, 480]),
    auxiliary_head=dict(in_channels=480))
