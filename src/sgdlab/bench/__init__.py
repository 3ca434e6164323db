"""Benchmarks: ``step`` (optimizer step time against torch.optim and the memory-bandwidth bound)."""
