//! One worker's side of credential rotation: indices picked by the rotation
//! plugin in batches, and the count of requests per pool entry.

use crate::plugin::{PluginError, RotationInstance};

/// Indices asked of the plugin per call.
const BATCH: u32 = 256;

/// Picks credentials for one worker's requests.
pub(crate) struct Picker {
    instance: RotationInstance,
    batch: Vec<u32>,
    first: u64,
    step: u64,
    /// Requests per pool index.
    uses: Vec<u64>,
}

impl Picker {
    pub(crate) fn new(instance: RotationInstance, pool_size: usize) -> Self {
        Picker {
            instance,
            batch: Vec::new(),
            first: 0,
            step: 1,
            uses: vec![0; pool_size],
        }
    }

    /// The pool index for request `sequence`; this worker's next requests
    /// are expected at `sequence + step`, `sequence + 2 step`, ...
    pub(crate) async fn index(&mut self, sequence: u64, step: u64) -> Result<u32, PluginError> {
        let slot = sequence
            .checked_sub(self.first)
            .filter(|offset| step == self.step && offset % step == 0)
            .map(|offset| offset / step)
            .filter(|slot| *slot < self.batch.len() as u64);
        let index = match slot {
            Some(slot) => self.batch[slot as usize],
            None => {
                self.batch = self.instance.pick(sequence, step, BATCH).await?;
                self.first = sequence;
                self.step = step;
                self.batch[0]
            }
        };
        self.uses[index as usize] += 1;
        Ok(index)
    }

    /// Requests per pool index so far.
    pub(crate) fn uses(&self) -> &[u64] {
        &self.uses
    }
}
