"""Datasets as uint8 tensors, and their batches. Import from the module that defines a name:
load (load_dataset, planned_sizes), tensors (Split, Dataset, normalize), batches (Batcher),
errors (DatasetError), synthetic, cifar10 (download, safe reading, hints), folder
(scan_image_folder, image_counts, decode_image), offline (checks before a run without
downloads), uploads (extract_dataset_zip), housekeeping (prune_uploads)."""
