# Nash-MTL (Navon et al., ICML 2022) on the shared parameters; gradient norm clipped to 1 as the official code.
# DeMT HRNet-18 on NYUD-v2 with the loss balancer above (see configs/demt/README.md, Loss balancing).
_base_ = ['../nyud_hrnet.py']
model = dict(loss_balancer=dict(type='NashMTL'))
optim_wrapper = dict(clip_grad=dict(_delete_=True, max_norm=1.0))
