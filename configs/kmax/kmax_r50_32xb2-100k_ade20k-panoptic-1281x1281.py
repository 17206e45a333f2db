# As kmax_r50_8xb8-100k_ade20k-panoptic-1281x1281.py on the official GPU layout: 32 GPUs x 2
# images (IMS_PER_BATCH 64, the COCO layout of the bytedance/kmax-deeplab README). Eight
# 1281x1281 images do not fit in 80 GB (README "Memory"); the total batch, and so the lr, is
# the same.
_base_ = './kmax_r50_8xb8-100k_ade20k-panoptic-1281x1281.py'
train_dataloader = dict(batch_size=2)  # x 32 GPUs = 64
