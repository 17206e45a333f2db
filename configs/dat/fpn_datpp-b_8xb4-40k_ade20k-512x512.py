# Semantic FPN + DAT++-B on ADE20K, 40k iterations, 8 GPUs x 4 images (official: 50.4 mIoU,
# 51.1 multi-scale; "80K" in the official README). LeapLabTHU/DAT-Segmentation
# configs/dat/fpn_base_160k_dp07_lr2.py (the README links it as fpn_base_80k_dp07_lr2.py; it
# runs 80000 // 2 iterations, :49): the DAT++-T FPN recipe with the base backbone and drop
# path 0.7 (:30).
_base_ = './fpn_datpp-t_8xb4-40k_ade20k-512x512.py'
# python tools/model_converters/dat2mmdense.py dat_pp_base_in1k_224.pth <this path>
checkpoint_file = 'pretrained/datpp-b_in1k-224_mmdense.pth'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.7,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
