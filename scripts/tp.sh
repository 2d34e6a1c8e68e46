#!/bin/bash
# Interleaved: Expect vs ptychat expect on peer.exp tp default N; prints medians and ratio.
cd /work/main
P=${P:-target/release/ptychat}
for N in ${SIZES:-10485760 52428800}; do
  e=(); p=()
  for r in $(seq 1 ${ROUNDS:-5}); do
    e+=($(expect ../shared/bench-peers/peer.exp tp default $N | awk '/^secs/ {print $2}'))
    p+=($($P expect ../shared/bench-peers/peer.exp tp default $N | awk '/^secs/ {print $2}'))
  done
  python3 - "$N" "${e[*]}" "${p[*]}" <<'PY'
import sys,statistics as st
n=sys.argv[1]; e=[float(x) for x in sys.argv[2].split()]; p=[float(x) for x in sys.argv[3].split()]
print(f"tp default {int(n)>>20} MiB: Expect {e} ptychat {p}")
print(f"  medians Expect {st.median(e)*1000:.0f} ms ptychat {st.median(p)*1000:.0f} ms Expect/ptychat {st.median(e)/st.median(p):.2f}x; per-round ratios {[round(a/b,2) for a,b in zip(e,p)]}")
PY
done
