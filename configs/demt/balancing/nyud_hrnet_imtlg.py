# IMTL-G (Liu et al., ICLR 2021) on the shared features (the paper's choice).
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='IMTLG'))
