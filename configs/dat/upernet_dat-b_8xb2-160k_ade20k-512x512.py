# UperNet + DAT-B on ADE20K, 160k iterations, 8 GPUs x 2 images (DAT paper: 49.4 mIoU).
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
