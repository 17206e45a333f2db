from .inference import build_inference_pipeline, inference_model, init_model

__all__ = ['init_model', 'inference_model', 'build_inference_pipeline']
