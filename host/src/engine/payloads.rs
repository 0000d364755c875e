//! Payloads from a payload builder, shared by a scenario's workers: one
//! guest call builds the payloads of [`BATCH`] consecutive sequence numbers
//! of a stage, whichever worker first needs one of them; the others take
//! theirs from the same batch. A batch that fails to build fails every
//! request of it at once (no request pays a guest call again). A batch is
//! dropped once all its payloads were taken, or once it falls [`KEEP`]
//! sequence numbers behind the newest batch (a sequence number whose
//! request was never built, a stage boundary inside a batch).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use super::template::{PayloadTemplate, RequestLimits};
use crate::plugin::{Batch, PayloadBuilderPlugin, PayloadInstance};

/// Payloads one guest call builds.
pub(crate) const BATCH: u32 = 256;
/// How far behind the newest batch a batch is kept: more than the requests
/// that can be being built at once (one per worker, at most 1,024), so a
/// batch is only dropped early when no request can still need it (and
/// would be built again, identically, if one did).
const KEEP: u64 = 8 * BATCH as u64;

/// One built batch: each payload compiled, or why it cannot be used.
pub(crate) struct Block {
    payloads: Vec<Result<PayloadTemplate, String>>,
    taken: AtomicU32,
}

/// A payload taken from a batch.
pub(crate) struct Taken {
    block: Arc<Block>,
    index: usize,
}

impl Taken {
    /// The payload, or why it cannot be used.
    pub(crate) fn payload(&self) -> Result<&PayloadTemplate, String> {
        self.block.payloads[self.index]
            .as_ref()
            .map_err(Clone::clone)
    }
}

type Slot = Arc<OnceCell<Result<Arc<Block>, String>>>;

/// A scenario's payload builder and its batches in use.
pub(crate) struct PayloadFeed {
    /// The builder, to instantiate per worker.
    pub(crate) plugin: PayloadBuilderPlugin,
    scenario: String,
    seed: u64,
    limits: RequestLimits,
    blocks: Mutex<HashMap<(usize, u64), Slot>>,
}

impl PayloadFeed {
    pub(crate) fn new(
        plugin: PayloadBuilderPlugin,
        scenario: &str,
        seed: u64,
        limits: RequestLimits,
    ) -> Self {
        PayloadFeed {
            plugin,
            scenario: scenario.to_owned(),
            seed,
            limits,
            blocks: Mutex::new(HashMap::new()),
        }
    }

    /// The payload of request `sequence` of stage `stage` (`stage_name`),
    /// building its batch with `builder` when no worker has yet.
    pub(crate) async fn take(
        &self,
        builder: &mut PayloadInstance,
        stage: usize,
        stage_name: &str,
        sequence: u64,
    ) -> Result<Taken, String> {
        let first = sequence - sequence % u64::from(BATCH);
        let key = (stage, first);
        let slot = {
            let mut blocks = self.blocks.lock().unwrap_or_else(PoisonError::into_inner);
            if !blocks.contains_key(&key) {
                blocks.retain(|(_, older), _| older.saturating_add(KEEP) > first);
            }
            Arc::clone(blocks.entry(key).or_default())
        };
        let block = slot
            .get_or_init(|| async {
                let batch = Batch {
                    scenario: self.scenario.clone(),
                    stage: stage_name.to_owned(),
                    first,
                    count: BATCH,
                    seed: self.seed,
                };
                let built = builder.build(&batch).await.map_err(|e| e.to_string())?;
                let payloads = built
                    .iter()
                    .map(|p| {
                        PayloadTemplate::compile(p, self.limits).map_err(|e| {
                            format!("payload builder {}: payload: {e}", self.plugin.info().name)
                        })
                    })
                    .collect();
                Ok(Arc::new(Block {
                    payloads,
                    taken: AtomicU32::new(0),
                }))
            })
            .await
            .clone()?;
        if block.taken.fetch_add(1, Ordering::AcqRel) + 1 == BATCH {
            self.blocks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
        }
        Ok(Taken {
            block,
            index: (sequence - first) as usize,
        })
    }
}
