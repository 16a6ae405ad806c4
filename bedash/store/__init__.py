"""The run store on disk: folders, validated readers, the lock, atomic writes, notes."""
