PY=/work/main/.venv/bin/python
OUT=/tmp/ue_ab; mkdir -p $OUT; uptime > $OUT/up0
for i in 1 2 3; do for tree in base main; do cd /work/$tree; $PY benchmarks/uncertainty_eval.py > $OUT/ue-$tree-$i.txt 2>&1; done; done
uptime > $OUT/up1
