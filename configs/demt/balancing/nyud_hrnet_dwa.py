# Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019): T=2, one period = one NYUD epoch at batch 8.
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='DWA', temperature=2.0, period=100))
