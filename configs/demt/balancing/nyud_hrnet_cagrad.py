# CAGrad (Liu et al., NeurIPS 2021): c=0.4 (the paper's NYUv2 value), shared parameters.
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='CAGrad', c=0.4))
