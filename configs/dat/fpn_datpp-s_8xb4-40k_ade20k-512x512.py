# Semantic FPN + DAT++-S on ADE20K, 40k iterations, 8 GPUs x 4 images (official: 49.9 mIoU,
# 50.7 multi-scale; "80K" in the official README). LeapLabTHU/DAT-Segmentation
# configs/dat/fpn_small_160k_dp04_lr2.py (the README links it as fpn_small_80k_dp04_lr2.py; it
# runs 80000 // 2 iterations, :49): the DAT++-T FPN recipe with the small backbone and drop
# path 0.4 (:30).
_base_ = './fpn_datpp-t_8xb4-40k_ade20k-512x512.py'
# python tools/model_converters/dat2mmdense.py dat_pp_small_in1k_224.pth <this path>
checkpoint_file = 'pretrained/datpp-s_in1k-224_mmdense.pth'
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[96, 192, 384, 768]))
