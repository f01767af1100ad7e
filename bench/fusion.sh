#!/usr/bin/env bash
# Chooses the hybrid fusion on one corpus and checks it on the other. For every fusion spec
# (`eval --fusion`: rrf or cc:ALPHA, with an every-word step of some size or none, keyword side weighed
# by its query coverage to a power) it runs every set on both corpora with
# multilingual-e5-small, then:
#   - on TUNE (default cpp-docs-ja) picks the spec whose worst margin over the sets is best,
#     the margin of a set being min over hits@1/@5/@10/MRR@10 of hybrid − max(text, vector);
#   - prints every spec's worst margin on both corpora, and what choosing on the other corpus
#     would have picked (cross-validation both ways: a choice that holds is the same);
#   - prints the chosen spec's rows and margins on every corpus, the held-out one included.
#
# Wide sets, so that one query is a few thousandths rather than .01 (the 100-query subsets of
# bench/relevance.sh moved a margin by .025 with one title):
#   cpp-docs-ja  every query whose page is in bench/relevance.sh's 936-page subset (≤ 1,000 per
#                set: about 900 sentences, keywords, titles and cross-lingual, 180 descriptions);
#                that subset's index (run bench/relevance.sh first)
#   oss-docs-ja  the whole corpus (538 pages, ≤ 1,000 per set: about 850 sentences and keywords,
#                393 titles, 492 lead-sentence descriptions), indexed here once with the model:
#                the tree for every set, its lead-less copy for descriptions (~9 min each on 2
#                cores)
# and on both a set of its own, stray: the 3-word queries with a fourth word their page does
# not have (bench/relevance_subset.py), where keyword search may be right although no section
# holds every word — the shape of the held-out descriptions on which keyword search led.
#
#   bench/fusion.sh [SPEC…]      (default: the grid below)
#   LIMIT=N                      only the first N queries of each set (a quicker look)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/release.sh
root=${WORK:-$HOME/.cache/sagasu/relevance}
tune=${TUNE:-cpp-docs-ja}
corpora=${CORPORA:-cpp-docs-ja oss-docs-ja}
whole=${WHOLE:-oss-docs-ja}
e5=${SAGASU_E5_DIR:-$HOME/.cache/sagasu-test-models/multilingual-e5-small}
specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
  # Plain RRF, the previous defaults (min-max scores; z-scores without the phrase step), and
  # the grid around the default: the keyword share, the every-word step and the phrase step
  # (both in standard deviations) of the z-score combination, the keyword side weighed by
  # coverage. A spec names `,minmax` for min-max scores and `,nophrase` for no phrase step;
  # without them a convex combination uses z-scores and the default phrase step.
  specs=(rrf,notier,pow=0,nophrase cc:0.7,tier=0.2,pow=1,minmax,nophrase cc:0.6,tier=0.75,pow=1,nophrase cc:0.56,tier=0.75,pow=1 cc:0.6,tier=0.5,pow=1 cc:0.6,tier=0.75,pow=1 cc:0.6,tier=1,pow=1 cc:0.64,tier=0.75,pow=1 cc:0.6,tier=0.75,pow=1,phrase=1 cc:0.6,tier=0.75,pow=1,phrase=3)
fi
lim=(); [ -n "${LIMIT:-}" ] && lim=(--limit "$LIMIT")

# The wide sets of a corpus, and its index for a set: echoes "SETS_DIR DB".
prepare() {
  local corpus=$1 work="$root/$1"
  [ -f "$work/eval.jsonl" ] || { echo "run bench/relevance.sh first ($work)" >&2; exit 1; }
  [ -d "$work/sets-all" ] || python3 bench/relevance_sets.py "$work/$corpus" "$work/eval.jsonl" "$work/sets-all" --every 1 >&2
  if [[ " $whole " == *" $corpus "* ]]; then
    [ -d "$work/wide" ] || python3 bench/relevance_subset.py "$work/sets-all" - "$work" --wide --tree "$work/$corpus" >&2
    # An index run is a scan when nothing changed, and rebuilds an index of an older format.
    "$sagasu" index "$work/$corpus" --db "$work/wide/db" --model "$e5" -q >&2
    "$sagasu" index "$work/sets-all/nodesc" --db "$work/wide/db-nodesc" --model "$e5" -q >&2
  else
    local en=-; [ -d "$work/cpp-docs-en" ] && en="$work/cpp-docs-en"
    [ -f "$work/subset/db-this/sagasu.json" ] || { echo "run bench/relevance.sh first ($work/subset)" >&2; exit 1; }
    [ -d "$work/subset/wide" ] || python3 bench/relevance_subset.py "$work/sets-all" "$en" "$work/subset" --wide >&2
    ln -sfn ../db-this "$work/subset/wide/db"
  fi
}
sets_dir() { if [[ " $whole " == *" $1 "* ]]; then echo "$root/$1/wide"; else echo "$root/$1/subset/wide"; fi; }

out="$root/fusion"
mkdir -p "$out"
for corpus in $corpora; do
  prepare "$corpus"
  dir=$(sets_dir "$corpus")
  for qset in sentences keywords stray titles descriptions crosslingual; do
    [ -f "$dir/$qset.jsonl" ] || continue
    db="$dir/db"; extra=()
    if [ "$qset" = descriptions ]; then
      [ -d "$dir/db-nodesc" ] && db="$dir/db-nodesc"
      extra=(--core)
    fi
    run() { "$sagasu" eval "$dir/$qset.jsonl" --db "$db" "${extra[@]}" "${lim[@]}" --json "$@"; }
    run --mode text > "$out/$corpus-$qset-text.json"
    run --mode vector > "$out/$corpus-$qset-vector.json"
    for spec in "${specs[@]}"; do
      run --mode hybrid --fusion "$spec" > "$out/$corpus-$qset-hybrid-$spec.json"
    done
  done
done
python3 - "$out" "$tune" "$corpora" "${specs[@]}" <<'PY'
import json, os, sys
out, tune, corpora, specs = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
metrics = ["hits_at_1", "hits_at_5", "hits_at_10", "mrr_at_10"]
def load(corpus, qset, mode):
    p = f"{out}/{corpus}-{qset}-{mode}.json"
    return json.load(open(p)) if os.path.exists(p) else None
def sets(corpus):
    return [q for q in ["sentences", "keywords", "stray", "titles", "descriptions", "crosslingual"] if load(corpus, q, "text")]
def margins(corpus, spec):
    res = {}
    for q in sets(corpus):
        t, v, h = load(corpus, q, "text"), load(corpus, q, "vector"), load(corpus, q, f"hybrid-{spec}")
        res[q] = min(h[m] - max(t[m], v[m]) for m in metrics)
    return res
def worst(corpus, spec):
    return min(margins(corpus, spec).values())
def ranked(corpus):
    # Worst margin first, then the next worst, and so on.
    return sorted(specs, key=lambda s: sorted(margins(corpus, s).values()), reverse=True)
print(f"fusion specs ranked on {tune} by their worst margin, then the next (hybrid − best side, min over @1/@5/@10/MRR):")
for s in ranked(tune):
    cells = "  ".join(f"{c} {worst(c, s):+.3f}" for c in corpora)
    print(f"  {s:<22} {cells}")
best = ranked(tune)[0]
print(f"\nchosen on {tune}: {best}")
for c in corpora:
    if c != tune:
        print(f"chosen on {c} instead: {ranked(c)[0]}")
for c in corpora:
    print(f"\n== {c}{' (tuning)' if c == tune else ' (held out)'}: {best}")
    print("set           queries mode     @1    @5    @10   MRR10  margin")
    for q in sets(c):
        for mode in ["text", "vector", f"hybrid-{best}"]:
            r = load(c, q, mode)
            print(f"{q:<13} {r['queries']:>7} {mode.split('-')[0]:<7} {r['hits_at_1']:.3f} {r['hits_at_5']:.3f} {r['hits_at_10']:.3f} {r['mrr_at_10']:.3f}")
        print(f"{'':<21} margin  {margins(c, best)[q]:+.3f}")
PY
