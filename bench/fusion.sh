#!/usr/bin/env bash
# Chooses the hybrid fusion on one corpus and checks it on the other. For every fusion spec
# (`eval --fusion`: rrf or cc:ALPHA, with or without the every-word tier, keyword side weighed
# by its query coverage to the power 0, 1 or 3; 6 by default) it runs every set of the subsets that
# bench/relevance.sh made (run that first), then:
#   - on TUNE (default cpp-docs-ja) picks the spec whose worst margin over the sets is best,
#     the margin of a set being min over hits@1/@5/@10/MRR@10 of hybrid − max(text, vector);
#   - prints that spec's rows and margins on every corpus, the held-out one included.
#   bench/fusion.sh [SPEC…]      (default: the grid below)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/release.sh
root=${WORK:-$HOME/.cache/sagasu/relevance}
tune=${TUNE:-cpp-docs-ja}
specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
  # The previous default, plain RRF, and the candidates the literature finds robust: RRF and
  # a convex combination, with and without the tier, the keyword side weighed by coverage.
  specs=(rrf,tier,pow=3 rrf,notier,pow=0 rrf,notier,pow=1 cc:0.4,notier,pow=0 cc:0.5,notier,pow=1 cc:0.6,tier,pow=1)
fi
out="$root/fusion"
mkdir -p "$out"
for corpus in ${CORPORA:-cpp-docs-ja oss-docs-ja}; do
  sub="$root/$corpus/subset"
  [ -f "$sub/db-this/sagasu.json" ] || { echo "run bench/relevance.sh first ($sub)"; exit 1; }
  for qset in sentences keywords titles descriptions crosslingual; do
    [ -f "$sub/$qset.jsonl" ] || continue
    extra=(); [ "$qset" = descriptions ] && extra=(--core)
    for mode in text vector; do
      "$sagasu" eval "$sub/$qset.jsonl" --db "$sub/db-this" --mode "$mode" "${extra[@]}" --json > "$out/$corpus-$qset-$mode.json"
    done
    for spec in "${specs[@]}"; do
      "$sagasu" eval "$sub/$qset.jsonl" --db "$sub/db-this" --mode hybrid --fusion "$spec" "${extra[@]}" --json > "$out/$corpus-$qset-hybrid-$spec.json"
    done
  done
done
corpora=${CORPORA:-cpp-docs-ja oss-docs-ja}
python3 - "$out" "$tune" "$corpora" "${specs[@]}" <<'PY'
import json, os, sys
out, tune, corpora, specs = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
metrics = ["hits_at_1", "hits_at_5", "hits_at_10", "mrr_at_10"]
def load(corpus, qset, mode):
    p = f"{out}/{corpus}-{qset}-{mode}.json"
    return json.load(open(p)) if os.path.exists(p) else None
def sets(corpus):
    return [q for q in ["sentences", "keywords", "titles", "descriptions", "crosslingual"] if load(corpus, q, "text")]
def margins(corpus, spec):
    res = {}
    for q in sets(corpus):
        t, v, h = load(corpus, q, "text"), load(corpus, q, "vector"), load(corpus, q, f"hybrid-{spec}")
        res[q] = min(h[m] - max(t[m], v[m]) for m in metrics)
    return res
def worst(corpus, spec):
    return min(margins(corpus, spec).values())
ranked = sorted(specs, key=lambda s: (worst(tune, s), sum(margins(tune, s).values())), reverse=True)
print(f"fusion specs ranked on {tune} by their worst margin (hybrid − best side, min over @1/@5/@10/MRR):")
for s in ranked:
    cells = "  ".join(f"{c} {worst(c, s):+.3f}" for c in corpora)
    print(f"  {s:<22} {cells}")
best = ranked[0]
print(f"\nchosen on {tune}: {best}")
for c in corpora:
    print(f"\n== {c}{' (tuning)' if c == tune else ' (held out)'}: {best}")
    print("set           mode     @1    @5    @10   MRR10  margin")
    for q in sets(c):
        for mode in ["text", "vector", f"hybrid-{best}"]:
            r = load(c, q, mode)
            print(f"{q:<13} {mode.split('-')[0]:<7} {r['hits_at_1']:.3f} {r['hits_at_5']:.3f} {r['hits_at_10']:.3f} {r['mrr_at_10']:.3f}")
        print(f"{'':<13} margin  {margins(c, best)[q]:+.3f}")
PY
