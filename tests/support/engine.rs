//! The one place tests and benchmarks build an engine: a fresh one on its own temporary data directory, so
//! that each test sees an empty store and leaves nothing behind.

#![allow(dead_code)]

use std::sync::Arc;

use kmipd::ops::{Engine, EngineConfig};
use kmipd::store::MasterKeySource;

/// An engine and the directory its data lives in (removed when dropped).
pub struct TestEngine {
    pub engine: Arc<Engine>,
    pub dir: tempfile::TempDir,
}

/// A fresh engine with an empty store.
pub fn fresh() -> TestEngine {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        data_dir: dir.path().to_owned(),
        master_key: MasterKeySource::DataDir,
        interop_tests: true,
        ..EngineConfig::default()
    };
    let engine = Engine::open(config).unwrap();
    TestEngine {
        engine: Arc::new(engine),
        dir,
    }
}
