//! The vector index: above `ann_min_rows` the vectors table gets an IVF_SQ index, and search
//! through it must find what exact search finds.

use crate::hash::hash_hex;
use crate::store::vectors::{Existing, Search};
use crate::store::{Access, Store, StoreOptions};

const DIM: usize = 32;

/// Deterministic pseudo-random numbers in [-1, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// Unit vectors around 200 topics, as embeddings of documents are; `noise` per dimension.
fn vectors(rng: &mut Rng, centres: &[Vec<f32>], n: usize, noise: f32) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| {
            let c = &centres[(i * 7919) % centres.len()];
            normalised(c.iter().map(|x| x + noise * rng.next()).collect())
        })
        .collect()
}

/// A writer's store in `dir` with an empty vectors table of [`DIM`] dimensions.
async fn vector_store(dir: &std::path::Path, options: StoreOptions) -> Store {
    let mut store = Store::open(&dir.into(), Access::Write, options)
        .await
        .expect("open");
    store
        .prepare_vectors(DIM, Existing::Keep)
        .await
        .expect("vectors table");
    store
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn ivf_sq_keeps_recall() {
    const N: usize = 6000;
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = crate::budget::runtime(2).expect("runtime");
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let centres: Vec<Vec<f32>> = (0..200)
        .map(|_| normalised((0..DIM).map(|_| rng.next()).collect()))
        .collect();
    let data = vectors(&mut rng, &centres, N, 0.25);
    let hashes: Vec<String> = (0..N as u128).map(hash_hex).collect();
    let options = StoreOptions {
        ann_min_rows: 1000,
        ..StoreOptions::default()
    };
    let recall = rt.block_on(async {
        let mut store = vector_store(dir.path(), options).await;
        for (h, v) in hashes.chunks(2000).zip(data.chunks(2000)) {
            store.add_vectors(h, v).await.expect("add");
        }
        store.maintain_vectors().await.expect("index");
        let indexed = store.vector_index_rows().await.expect("index stats");
        assert_eq!(
            indexed,
            Some(N as u64),
            "the vector index covers every vector"
        );

        let queries = vectors(&mut Rng(7), &centres, 50, 0.25);
        let mut found = 0;
        for q in &queries {
            let mut exact: Vec<(usize, f32)> = data
                .iter()
                .enumerate()
                .map(|(i, v)| (i, 1.0 - dot(v, q)))
                .collect();
            exact.sort_by(|a, b| a.1.total_cmp(&b.1));
            let truth: Vec<&String> = exact[..10].iter().map(|(i, _)| &hashes[*i]).collect();
            let exact = store
                .search_vectors(q, 10, None, Search::Exact)
                .await
                .expect("exact search");
            let exact: Vec<&String> = exact.iter().map(|(h, _)| h).collect();
            assert_eq!(exact, truth, "exact search bypasses the index");
            let ann = store
                .search_vectors(q, 10, None, Search::Indexed)
                .await
                .expect("search");
            found += ann.iter().filter(|(h, _)| truth.contains(&h)).count();
        }
        found as f64 / (10 * queries.len()) as f64
    });
    eprintln!("recall@10 through IVF_SQ: {recall:.3}");
    assert!(recall >= 0.95, "recall@10 {recall:.3} < 0.95");
}

/// The mean of the stored vectors is their arithmetic mean, and a search for `q − c × mean`
/// ranks texts by `q·d − c × mean·d` (LanceDB's cosine distance on unit vectors): what vector
/// search's hub correction relies on.
#[test]
fn the_mean_vector_and_the_corrected_ranking() {
    const N: usize = 300;
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = crate::budget::runtime(2).expect("runtime");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Vectors that share one direction, as an encoder's do.
    let shared = normalised((0..DIM).map(|_| rng.next()).collect());
    let centres: Vec<Vec<f32>> = (0..20)
        .map(|_| {
            normalised(
                shared
                    .iter()
                    .map(|s| 3.0 * s + rng.next())
                    .collect::<Vec<f32>>(),
            )
        })
        .collect();
    let data = vectors(&mut rng, &centres, N, 0.3);
    let hashes: Vec<String> = (0..N as u128).map(hash_hex).collect();
    let c = 0.25;
    rt.block_on(async {
        let mut store = vector_store(dir.path(), StoreOptions::default()).await;
        assert!(store.mean_vector().await.expect("mean").is_none());
        store.add_vectors(&hashes, &data).await.expect("add");
        let (mean, rows) = store.mean_vector().await.expect("mean").expect("vectors");
        assert_eq!(rows, N as u64);
        for (j, m) in mean.iter().enumerate() {
            let want = data.iter().map(|v| v[j]).sum::<f32>() / N as f32;
            assert!((m - want).abs() < 1e-5, "dimension {j}: {m} against {want}");
        }
        let mut moved = 0;
        for q in vectors(&mut Rng(11), &centres, 20, 0.3) {
            let raw = |v: &Vec<f32>| dot(&q, v);
            let fixed = |v: &Vec<f32>| dot(&q, v) - c * dot(&mean, v);
            let best = |score: &dyn Fn(&Vec<f32>) -> f32| {
                let mut order: Vec<usize> = (0..N).collect();
                order.sort_by(|a, b| score(&data[*b]).total_cmp(&score(&data[*a])));
                order[..10]
                    .iter()
                    .map(|i| hashes[*i].clone())
                    .collect::<Vec<_>>()
            };
            let qc: Vec<f32> = q.iter().zip(&mean).map(|(x, m)| x - c * m).collect();
            let found: Vec<String> = store
                .search_vectors(&qc, 10, None, Search::Exact)
                .await
                .expect("search")
                .into_iter()
                .map(|(h, _)| h)
                .collect();
            assert_eq!(found, best(&fixed), "ranked by q·d − c × mean·d");
            moved += usize::from(best(&raw) != found);
        }
        assert!(moved > 0, "the correction changes some rankings");
    });
}
