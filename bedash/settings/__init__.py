"""Settings: every knob declared once (RunConfig), its kinds, the profiles."""
