"""How fast each model kind trains, against the seed's pipeline and the matrix-multiplication
floor, all measured side by side in one run (`python -m bedash bench`; BENCHMARKS.md reads the
figures). Not part of the library: the core never imports this package.

Variants (member-samples per second of training, E = members, same data and shapes):
  seed_pipeline      the notebook: per-image ToTensor/Normalize DataLoader (2 workers), a
                     BatchEnsemble, loss.item() every step, default Adam
  seed_loop_no_loader the same loop fed from batches already in memory: the seed's model
                     step alone (seed_pipeline minus this is what its data path costs)
  batchensemble      bedash's training loop (device-resident uint8 data, fused Adam)
  ensemble           E independent models trained member after member (the seed's way)
  ensemble_parallel  the same E models with stacked weights, one step for all
  single             one model (E = 1): the baseline
  floor_<kind>       only the GEMMs that kind's step cannot avoid, at its shapes, nothing else

Modules: settings (what one benchmark measures), timing (the variants and floors), memory
(peak memory of a whole run), run (the benchmark: interleaved repeats, medians), report (the
table and the output files), plot (the scaling figure), cli (the command: flags, checks, main).
"""
