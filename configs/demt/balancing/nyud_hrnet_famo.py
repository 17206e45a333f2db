# FAMO (Liu et al., NeurIPS 2023): logit lr 0.025, weight decay 0.01 and gradient norm clipped to 1, the official code's defaults (Cranial-XIX/FAMO famo.py).
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='FAMO', w_lr=0.025, gamma=0.01))
optim_wrapper = dict(clip_grad=dict(_delete_=True, max_norm=1.0))
