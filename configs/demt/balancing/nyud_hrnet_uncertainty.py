# Uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018).
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='UncertaintyWeighting'))
