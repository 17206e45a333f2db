# Log losses (the logarithm transform of Lin et al. 2023, DB-MTL): sum of log task losses.
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='GeometricMeanLoss', log=True))
