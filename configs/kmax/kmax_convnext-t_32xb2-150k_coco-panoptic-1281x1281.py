# As kmax_convnext-t_8xb8-150k_coco-panoptic-1281x1281.py on the official GPU layout: 32 GPUs x 2
# images (bytedance/kmax-deeplab README: 4 machines x 8 GPUs for IMS_PER_BATCH 64). Eight
# 1281x1281 images do not fit in 80 GB (README "Memory"); the total batch, and so the lr, is
# the same.
_base_ = './kmax_convnext-t_8xb8-150k_coco-panoptic-1281x1281.py'
train_dataloader = dict(batch_size=2)  # x 32 GPUs = 64
