//! One worker's side of credential rotation: indices picked by the rotation
//! plugin in batches, and the count of requests per pool entry.

use crate::plugin::{PluginError, RotationInstance};

/// Indices asked of the plugin per call.
const BATCH: u32 = 256;

/// Picks credentials for one worker's requests.
///
/// Request `k` of the scenario (its sequence number) uses entry `pick(k)`,
/// whichever worker sends it. Picks depend only on `k` (the rotation
/// world's contract), so each worker asks for the aligned block of
/// [`BATCH`] sequence numbers that holds `k` and keeps it while its
/// requests fall in it.
pub(crate) struct Picker {
    instance: RotationInstance,
    /// The block whose picks are in `picks`.
    block: Option<u64>,
    picks: Vec<u32>,
    /// Requests per pool index.
    uses: Vec<u64>,
}

impl Picker {
    pub(crate) fn new(instance: RotationInstance, pool_size: usize) -> Self {
        Picker {
            instance,
            block: None,
            picks: Vec::new(),
            uses: vec![0; pool_size],
        }
    }

    /// The pool index for request `sequence`.
    pub(crate) async fn index(&mut self, sequence: u64) -> Result<u32, PluginError> {
        let block = sequence / u64::from(BATCH);
        if self.block != Some(block) {
            self.block = None;
            self.picks = self
                .instance
                .pick(block * u64::from(BATCH), 1, BATCH)
                .await?;
            self.block = Some(block);
        }
        let index = self.picks[(sequence % u64::from(BATCH)) as usize];
        self.uses[index as usize] += 1;
        Ok(index)
    }

    /// Requests per pool index so far.
    pub(crate) fn uses(&self) -> &[u64] {
        &self.uses
    }
}
