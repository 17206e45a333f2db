# UperNet + DAT-S on ADE20K, 160k iterations, 8 GPUs x 2 images (DAT paper: 48.3 mIoU).
# As DAT-T (mixed precision too) except drop path 0.5 (DAT-Segmentation
# configs/dat/upn_small_160k_dp05_lr6.py l.29).
_base_ = './upernet_dat-t_8xb2-160k_ade20k-512x512.py'
# python tools/model_converters/dat2mmdense.py dat_small_in1k_224.pth <this path>
checkpoint_file = 'pretrained/dat-s_in1k-224_mmdense.pth'
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.5,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
