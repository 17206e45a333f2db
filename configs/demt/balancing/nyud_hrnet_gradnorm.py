# GradNorm (Chen et al., ICML 2018): alpha=1.5 (the paper's NYUv2 value), norms on the shared features.
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='GradNorm', alpha=1.5))
