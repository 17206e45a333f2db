# Fixed task weights (today's behaviour, bit-for-bit: the loss_weight of each loss).
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='FixedWeights'))
