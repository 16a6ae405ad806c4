"""Uncertainty under shift: corruptions, OOD sets, scores, the evaluation."""
