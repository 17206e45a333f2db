# UperNet + DAT++-B on ADE20K, 160k iterations, 8 GPUs x 2 images (official: 51.0 mIoU,
# 51.5 multi-scale). LeapLabTHU/DAT-Segmentation configs/dat/upn_base_160k_dp07_lr6.py: the
# DAT++-T recipe with the base backbone and drop path 0.7 (:29), but trained in fp32: a plain
# OptimizerHook (:55-57) where T and S use the Fp16OptimizerHook.
_base_ = './upernet_datpp-t_8xb2-160k_ade20k-512x512.py'
# python tools/model_converters/dat2mmdense.py dat_pp_base_in1k_224.pth <this path>
checkpoint_file = 'pretrained/datpp-b_in1k-224_mmdense.pth'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.7,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
# fp32: the DAT++-T optimiser without the AMP wrapper (upn_base_160k_dp07_lr6.py:42-47, :55-57).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'relative_position_bias_table': dict(decay_mult=0.),
            'rpe_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
