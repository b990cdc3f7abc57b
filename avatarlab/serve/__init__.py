"""The live loop as a program: building the engine from configs/serve.yaml, simulate and live modes."""
