default_scope = 'mmdense'
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
tta_model = dict(type='SegTTAModel')
# Reliability hooks (mmdense/engine/hooks; tools/train.py adds them to configs that replace
# custom_hooks): stop at the first NaN/inf loss before anything is saved; validate with rank 0's
# BN statistics (those in the checkpoint); check that head, losses, datasets and evaluators name
# the same tasks before the first iteration.
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='BroadcastBuffersHook'),
    dict(type='TaskConsistencyHook'),
]
