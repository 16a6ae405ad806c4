"""One job system: the executor (a queue behind one cap) and a job's live record."""
