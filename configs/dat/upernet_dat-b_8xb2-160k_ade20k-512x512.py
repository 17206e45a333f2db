# UperNet + DAT-B on ADE20K, 160k iterations, 8 GPUs x 2 images (DAT paper: 49.4 mIoU).
# As DAT-T except drop path 0.7 (DAT-Segmentation configs/dat/upn_base_160k_dp07_lr6.py l.29)
# and fp32: that config uses the plain `OptimizerHook` (l.55-57), not Fp16OptimizerHook.
_base_ = './upernet_dat-t_8xb2-160k_ade20k-512x512.py'
# python tools/model_converters/dat2mmdense.py dat_base_in1k_224.pth <this path>
checkpoint_file = 'pretrained/dat-b_in1k-224_mmdense.pth'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.7,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    clip_grad=None,
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'relative_position_bias_table': dict(decay_mult=0.),
            'rpe_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
