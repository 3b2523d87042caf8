"""Deployment: inference-time simplification and export (ONNX, torch.export) of trained networks."""
