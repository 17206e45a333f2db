# PCGrad (Yu et al., NeurIPS 2020) on the shared (backbone) parameters: T + 1 backward passes.
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='PCGrad'))
