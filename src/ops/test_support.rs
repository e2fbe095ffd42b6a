//! An engine over a fresh store in a temporary directory, for the operation tests: the directory lives exactly as
//! long as the engine.

use std::ops::Deref;

use super::{Engine, EngineConfig};

/// An engine and the temporary data directory its store lives in.
pub(crate) struct TestEngine {
    engine: Engine,
    _dir: tempfile::TempDir,
}

impl Deref for TestEngine {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.engine
    }
}

/// Opens an engine on a new temporary store, its clock fixed at `now`.
pub(crate) fn engine_at(clock: fn() -> i64) -> TestEngine {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig {
        clock,
        data_dir: dir.path().to_path_buf(),
        ..EngineConfig::default()
    })
    .unwrap();
    TestEngine { engine, _dir: dir }
}
