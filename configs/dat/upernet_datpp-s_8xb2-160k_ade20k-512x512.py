# UperNet + DAT++-S on ADE20K, 160k iterations, 8 GPUs x 2 images (official: 50.5 mIoU,
# 51.2 multi-scale). LeapLabTHU/DAT-Segmentation configs/dat/upn_small_160k_dp05_lr6.py: the
# DAT++-T recipe with the small backbone and drop path 0.5 (:29); fp16 as DAT++-T (:54-62).
_base_ = './upernet_datpp-t_8xb2-160k_ade20k-512x512.py'
# python tools/model_converters/dat2mmdense.py dat_pp_small_in1k_224.pth <this path>
checkpoint_file = 'pretrained/datpp-s_in1k-224_mmdense.pth'
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.5,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
