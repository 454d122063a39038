//! The reference engine: it answers the router's questions from `duff_core::reports` over a
//! `duff_core::CurrentState` built from every published file (the whole history, in
//! memory). The engines under test (the serving state here, DataFusion in duff-sql) must
//! give the same JSON on every route.

use duff_api::serving_engine::{client_orders, core_report, result_of};
use duff_api::{BoxFuture, EngineError, QueryEngine, Question, ResultSet};
use duff_core::CurrentState;
use std::path::Path;

/// Answers from a current state loaded once.
#[derive(Debug)]
pub struct ReferenceEngine {
    state: CurrentState,
}

impl ReferenceEngine {
    pub fn new(state: CurrentState) -> ReferenceEngine {
        ReferenceEngine { state }
    }

    /// The current state of the lake in `root` (an empty one when the folder is missing).
    pub fn load(root: &Path) -> ReferenceEngine {
        if !root.exists() {
            return ReferenceEngine::new(CurrentState::new());
        }
        let (state, _) = duff_lake::LocalLake::open(root).unwrap().load_state().unwrap();
        ReferenceEngine::new(state)
    }
}

impl QueryEngine for ReferenceEngine {
    fn name(&self) -> &'static str {
        "reference"
    }

    fn answer<'a>(&'a self, question: &'a Question) -> BoxFuture<'a, Result<ResultSet, EngineError>> {
        Box::pin(async move {
            Ok(match question {
                Question::Report(r, f) => result_of(self.state.report(core_report(*r), f)),
                Question::ClientOrders(q) => {
                    let lines: Vec<duff_core::Line> =
                        self.state.client_lines(q.client_id).into_iter().cloned().collect();
                    client_orders(q, !lines.is_empty(), &lines, self.state.dims().client_name(q.client_id))
                }
            })
        })
    }
}
