//! MOUNT v3 (placeholder: being written).

use std::sync::Arc;

use nfsl_transport::{CallContext, CallOutcome};

use crate::server::Shared;

/// Mount records for DUMP.
#[derive(Debug, Default)]
pub(crate) struct MountTable;

/// The MOUNT v3 program.
#[derive(Debug)]
pub(crate) struct Mount3 {
    _shared: Arc<Shared>,
    _table: MountTable,
}

impl Mount3 {
    pub(crate) fn new(shared: Arc<Shared>, table: MountTable) -> Mount3 {
        Mount3 {
            _shared: shared,
            _table: table,
        }
    }

    pub(crate) fn dispatch(
        &self,
        _ctx: &CallContext,
        _args: &[u8],
        _out: &mut Vec<u8>,
    ) -> CallOutcome {
        CallOutcome::ProcUnavail
    }
}
