"""The dashboard's charts, a module per page that draws them (training: Experiment and Results'
Training tab; results, uncertainty: Results; runs: Runs; sweeps: Sweeps) and one style."""
