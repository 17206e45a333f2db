# MGDA-UB (Sener & Koltun, NeurIPS 2018): min-norm weights from the gradients of the shared features.
# No gradient normalisation, as the paper's algorithm (the official code calls it optional and not
# part of the paper; 'loss+' is its CelebA setting): see the MGDA docstring and the README.
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='MGDA', level='representation', normalization='none'))
