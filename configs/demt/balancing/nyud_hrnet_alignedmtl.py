# Aligned-MTL (Senushkin et al., CVPR 2023), shared parameters; level='representation' gives Aligned-MTL-UB.
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='AlignedMTL', scale_mode='min'))
