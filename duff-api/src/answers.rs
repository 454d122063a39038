//! Rendered answers, kept per generation of the engine's data and computed once however
//! many identical requests arrive together.
//!
//! An engine that can tell which data it answers from ([`QueryEngine::generation`]) gets its
//! JSON bodies kept until that number changes: a long list (a row per client) is computed
//! and rendered once per generation and filter, then served as bytes. Identical requests in
//! flight at the same moment wait for the first one's body instead of computing their own
//! (one `OnceCell` per question). Errors are never kept: the next request tries again.
//!
//! The cache is bounded by the bytes of its bodies ([`AnswerCache::new`]); when a body
//! passes the bound, the answers about one client are dropped (there are many, each asked
//! rarely and cheap to compute again), and the reports over every client stay; if those
//! alone pass the bound, the cache is emptied (requests holding a body keep it) and
//! starts again.
//!
//! [`QueryEngine::generation`]: crate::QueryEngine::generation

use crate::question::Question;
use axum::body::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// The default bound of the bodies kept (bytes): the two lists with a row per client are a
/// few hundred kilobytes each at 5,000 clients.
pub const DEFAULT_ANSWER_CACHE_BYTES: usize = 32 << 20;

/// JSON bodies per question for one generation. See the [module docs](self).
#[derive(Debug)]
pub struct AnswerCache {
    max_bytes: usize,
    state: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    generation: u64,
    bytes: usize,
    bodies: HashMap<Question, Arc<OnceCell<Bytes>>>,
}

impl AnswerCache {
    /// A cache holding at most `max_bytes` of bodies (0 keeps none, but identical requests
    /// in flight still share one computation).
    pub fn new(max_bytes: usize) -> AnswerCache {
        AnswerCache { max_bytes, state: Mutex::new(Kept::default()) }
    }

    /// The body of `question` in `generation`: the kept one, the one an identical request in
    /// flight is computing, or `compute`'s. Without a generation (an engine that cannot tell
    /// when its answers change) `compute` runs every time.
    ///
    /// # Errors
    /// `compute`'s error, which is not kept.
    pub async fn get_or_compute<E, F>(
        &self,
        generation: Option<u64>,
        question: &Question,
        compute: F,
    ) -> Result<Bytes, E>
    where
        F: Future<Output = Result<Bytes, E>>,
    {
        let Some(generation) = generation else { return compute.await };
        let Some(cell) = self.cell(generation, question) else { return compute.await };
        let mut computed = false;
        let body = cell
            .get_or_try_init(|| {
                computed = true;
                compute
            })
            .await?
            .clone();
        if computed {
            self.count(generation, question, &cell, body.len());
        }
        Ok(body)
    }

    /// The cell of `question` in `generation`, created if needed; `None` for a generation
    /// older than the one kept (a request that raced a newer generation: not kept).
    fn cell(&self, generation: u64, question: &Question) -> Option<Arc<OnceCell<Bytes>>> {
        let mut kept = self.state.lock().ok()?;
        if generation < kept.generation {
            return None;
        }
        if generation > kept.generation {
            *kept = Kept { generation, ..Kept::default() };
        }
        Some(kept.bodies.entry(*question).or_default().clone())
    }

    /// Counts a new body of `len` bytes; empties the cache when it passes the bound.
    fn count(&self, generation: u64, question: &Question, cell: &Arc<OnceCell<Bytes>>, len: usize) {
        let Ok(mut kept) = self.state.lock() else { return };
        let still_kept =
            kept.generation == generation && kept.bodies.get(question).is_some_and(|c| Arc::ptr_eq(c, cell));
        if !still_kept {
            return;
        }
        kept.bytes += len;
        if kept.bytes > self.max_bytes {
            // Answers about one client go first: there are many of them, each asked rarely
            // and cheap to compute again; the reports over every client stay.
            kept.bodies.retain(|q, _| !q.is_about_one_client());
            kept.bytes = kept.bodies.values().filter_map(|c| c.get()).map(Bytes::len).sum();
            if kept.bytes > self.max_bytes {
                kept.bodies.clear();
                kept.bytes = 0;
            }
        }
    }

    /// The bodies kept and their bytes (for tests and logs).
    pub fn len_and_bytes(&self) -> (usize, usize) {
        self.state.lock().map_or((0, 0), |k| (k.bodies.values().filter(|c| c.initialized()).count(), k.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Report;
    use duff_core::reports::ReportFilter;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn q(client: i64) -> Question {
        Question::report(Report::ClientValue, &ReportFilter { client_id: Some(client), ..ReportFilter::default() })
    }

    async fn body(cache: &AnswerCache, g: Option<u64>, question: Question, calls: &AtomicUsize, text: &str) -> Bytes {
        let text = Bytes::from(text.to_owned());
        cache
            .get_or_compute(g, &question, async {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok::<_, ()>(text)
            })
            .await
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_body_is_computed_once_per_generation() {
        let cache = AnswerCache::new(1 << 20);
        let calls = AtomicUsize::new(0);
        assert_eq!(body(&cache, Some(1), q(1), &calls, "a").await, "a");
        assert_eq!(body(&cache, Some(1), q(1), &calls, "b").await, "a");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Another question, then a newer generation: computed again.
        assert_eq!(body(&cache, Some(1), q(2), &calls, "c").await, "c");
        assert_eq!(body(&cache, Some(2), q(1), &calls, "d").await, "d");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(cache.len_and_bytes(), (1, 1));
        // A request still on the older generation is answered, but not kept.
        assert_eq!(body(&cache, Some(1), q(1), &calls, "e").await, "e");
        assert_eq!(body(&cache, Some(2), q(1), &calls, "f").await, "d");
        // No generation: never kept.
        assert_eq!(body(&cache, None, q(1), &calls, "g").await, "g");
        assert_eq!(body(&cache, None, q(1), &calls, "h").await, "h");
    }

    #[tokio::test]
    async fn answers_about_one_client_go_first_when_the_bound_is_passed() {
        let cache = AnswerCache::new(6);
        let calls = AtomicUsize::new(0);
        let every_client = Question::report(Report::ClientValue, &ReportFilter::default());
        assert_eq!(body(&cache, Some(1), every_client, &calls, "abc").await, "abc");
        assert_eq!(body(&cache, Some(1), q(1), &calls, "de").await, "de");
        assert_eq!(cache.len_and_bytes(), (2, 5));
        assert_eq!(body(&cache, Some(1), q(2), &calls, "fg").await, "fg");
        assert_eq!(cache.len_and_bytes(), (1, 3), "the report over every client stays");
        assert_eq!(body(&cache, Some(1), every_client, &calls, "x").await, "abc");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn identical_requests_in_flight_share_one_computation() {
        let cache = AnswerCache::new(1 << 20);
        let calls = AtomicUsize::new(0);
        let asks = (0..16).map(|_| body(&cache, Some(7), q(1), &calls, "x"));
        let bodies = futures_join_all(asks).await;
        assert!(bodies.iter().all(|b| b == "x"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn errors_are_not_kept_and_the_bound_holds() {
        let cache = AnswerCache::new(4);
        let failed: Result<Bytes, &str> = cache.get_or_compute(Some(1), &q(1), async { Err("no") }).await;
        assert!(failed.is_err());
        let calls = AtomicUsize::new(0);
        assert_eq!(body(&cache, Some(1), q(1), &calls, "abc").await, "abc");
        assert_eq!(cache.len_and_bytes(), (1, 3));
        // Past the bound: emptied, the body still answered.
        assert_eq!(body(&cache, Some(1), q(2), &calls, "de").await, "de");
        assert_eq!(cache.len_and_bytes(), (0, 0));
        assert_eq!(body(&cache, Some(1), q(1), &calls, "fg").await, "fg");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    /// Polls the futures together on this task (no spawning: they borrow the cache).
    async fn futures_join_all<F: Future<Output = Bytes>>(fs: impl Iterator<Item = F>) -> Vec<Bytes> {
        let mut set: Vec<_> = fs.map(Box::pin).collect();
        let mut out: Vec<Option<Bytes>> = vec![None; set.len()];
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (i, f) in set.iter_mut().enumerate() {
                if out[i].is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(b) => out[i] = Some(b),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
        })
        .await;
        out.into_iter().flatten().collect()
    }
}
