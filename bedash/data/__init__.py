"""Datasets as uint8 tensors (CIFAR-10, image folders, synthetic) and their batches."""
