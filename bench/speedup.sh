# Sourced by the bench_*.sh scripts that compare with PyTorch.
# speedup LABEL GEOCORR_OUTPUT TORCH_OUTPUT: prints the wall-clock and CPU-time ratios (the machine is
# shared: CPU time is the steadier of the two) and both peak RSS, read from the "forward X s  cpu Y s
# peak RSS Z MiB" lines of the two outputs.
speedup() {
  local label=$1 g=$2 t=$3
  field() { echo "$1" | sed -n "s/$2/\1/p" | head -1; }
  local gs ts gc tc gm tm
  gs=$(field "$g" '.*forward \([0-9.]*\) s.*'); ts=$(field "$t" '.*forward \([0-9.]*\) s.*')
  gc=$(field "$g" '.* cpu \([0-9.]*\) s.*'); tc=$(field "$t" '.* cpu \([0-9.]*\) s.*')
  gm=$(field "$g" '.*peak RSS \([0-9]*\) MiB.*'); tm=$(field "$t" '.*peak RSS \([0-9]*\) MiB.*')
  awk -v l="$label" -v g="$gs" -v t="$ts" -v gc="$gc" -v tc="$tc" -v gm="$gm" -v tm="$tm" 'BEGIN {
    printf "%sspeed-up vs PyTorch: %.2fx wall (%.2f s vs %.2f s), %.2fx cpu time (%.2f s vs %.2f s); peak RSS %d vs %d MiB\n",
      l, t / g, g, t, tc / gc, gc, tc, gm, tm }'
}
