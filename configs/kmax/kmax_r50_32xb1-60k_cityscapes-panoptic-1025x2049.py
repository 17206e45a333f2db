# As kmax_r50_8xb4-60k_cityscapes-panoptic-1025x2049.py with one image per GPU on 32 GPUs
# (IMS_PER_BATCH 32; the GPU layout of the official Cityscapes run is not published, the COCO
# run used 32 GPUs). Four 1025x2049 images do not fit in 80 GB (README "Memory"); the total
# batch, and so the lr, is the same. SyncBN makes the batch statistics span all 32 images.
_base_ = './kmax_r50_8xb4-60k_cityscapes-panoptic-1025x2049.py'
train_dataloader = dict(batch_size=1)  # x 32 GPUs = 32
