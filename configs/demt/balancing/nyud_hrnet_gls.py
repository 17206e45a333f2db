# Geometric loss strategy (Chennupati et al., CVPR-W 2019): geometric mean of the task losses.
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='GeometricMeanLoss'))
