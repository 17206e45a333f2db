# Random Loss Weighting (Lin et al., TMLR 2022): softmax of normal draws every iteration.
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='RLW'))
