//! Cross-checks the enumerations written by hand in this module against the specification tables of `spec`,
//! so that a typo in either shows up as a failing test.

use std::collections::BTreeSet;

use crate::spec::{self, EnumDef};

use super::enums::{
    AsynchronousIndicator, AttestationType, BatchErrorContinuationOption, BlockCipherMode,
    CredentialType, CryptographicAlgorithm, DigitalSignatureAlgorithm, HashingAlgorithm,
    MaskGenerator, ObjectType, Operation, PaddingMethod, QueryFunction, ResultStatus, RngAlgorithm,
};
use super::error::{ILLEGAL_OPERATION_1X, ResultReason};
use super::version::ProtocolVersion;

fn table(name: &str) -> &'static EnumDef {
    spec::enumeration(name).unwrap_or_else(|| panic!("spec has no enumeration {name}"))
}

fn values(name: &str) -> BTreeSet<u32> {
    table(name).values.iter().map(|v| v.value).collect()
}

fn defined_in(name: &str, value: u32, v: ProtocolVersion) -> bool {
    table(name)
        .values
        .iter()
        .any(|d| d.value == value && d.versions.contains(v.major, v.minor))
}

#[test]
fn open_enumerations_match_the_specification() {
    let set = |known: &[u32]| known.iter().copied().collect::<BTreeSet<u32>>();
    let op: Vec<u32> = Operation::KNOWN.iter().map(|o| o.0).collect();
    assert_eq!(set(&op), values("Operation"));
    let qf: Vec<u32> = QueryFunction::KNOWN.iter().map(|o| o.0).collect();
    assert_eq!(set(&qf), values("QueryFunction"));
    let ot: Vec<u32> = ObjectType::KNOWN.iter().map(|o| o.0).collect();
    assert_eq!(set(&ot), values("ObjectType"));
    let ct: Vec<u32> = CredentialType::KNOWN.iter().map(|o| o.0).collect();
    assert_eq!(set(&ct), values("CredentialType"));
    let at: Vec<u32> = AttestationType::KNOWN.iter().map(|o| o.0).collect();
    assert_eq!(set(&at), values("AttestationType"));
    let rng: Vec<u32> = RngAlgorithm::KNOWN.iter().map(|o| o.0).collect();
    assert_eq!(set(&rng), values("RNGAlgorithm"));
    let mode: Vec<u32> = BlockCipherMode::KNOWN.iter().map(|o| o.0).collect();
    assert_eq!(set(&mode), values("BlockCipherMode"));
    let padding: Vec<u32> = PaddingMethod::KNOWN.iter().map(|o| o.0).collect();
    assert_eq!(set(&padding), values("PaddingMethod"));
    let hashing: Vec<u32> = HashingAlgorithm::KNOWN.iter().map(|o| o.0).collect();
    assert_eq!(set(&hashing), values("HashingAlgorithm"));
    let signature: Vec<u32> = DigitalSignatureAlgorithm::KNOWN
        .iter()
        .map(|o| o.0)
        .collect();
    assert_eq!(set(&signature), values("DigitalSignatureAlgorithm"));
    let mgf: Vec<u32> = MaskGenerator::KNOWN.iter().map(|o| o.0).collect();
    assert_eq!(set(&mgf), values("MaskGenerator"));
    // Cryptographic Algorithm lists only what the server has a use for; each must be the specification's.
    let all = values("CryptographicAlgorithm");
    for a in CryptographicAlgorithm::KNOWN {
        assert!(all.contains(&a.0), "{a:?} is not in the specification");
    }
}

#[test]
fn closed_enumerations_match_the_specification() {
    let statuses = [
        ResultStatus::Success,
        ResultStatus::OperationFailed,
        ResultStatus::OperationPending,
        ResultStatus::OperationUndone,
    ];
    let codes: BTreeSet<u32> = statuses.iter().map(|s| s.code()).collect();
    assert_eq!(codes, values("ResultStatus"));
    let options = [
        BatchErrorContinuationOption::Continue,
        BatchErrorContinuationOption::Stop,
        BatchErrorContinuationOption::Undo,
    ];
    let codes: BTreeSet<u32> = options.iter().map(|o| o.code()).collect();
    assert_eq!(codes, values("BatchErrorContinuationOption"));
    for code in values("AsynchronousIndicator") {
        assert_eq!(
            AsynchronousIndicator::from_code(code).map(|a| a as u32),
            Ok(code)
        );
    }
}

#[test]
fn result_reasons_match_the_specification() {
    let mut ours: BTreeSet<u32> = ResultReason::ALL.iter().map(|r| r.code()).collect();
    // The two 1.x-only values (Illegal Operation, Index Out of Bounds) that 2.x reserves.
    ours.extend([ILLEGAL_OPERATION_1X, 0x0E]);
    assert_eq!(ours, values("ResultReason"));
    for r in ResultReason::ALL {
        let spec_name = table("ResultReason")
            .by_value(r.code())
            .map(|d| d.spec_name);
        assert!(
            spec_name.is_some_and(|n| n.eq_ignore_ascii_case(r.name())),
            "{r}: {spec_name:?}"
        );
    }
}

#[test]
fn responses_carry_only_reasons_their_version_defines() {
    for v in ProtocolVersion::SUPPORTED {
        for r in ResultReason::ALL {
            // Never sent before the specification tables define it (the tables may admit a value into 1.1 or
            // 1.3 earlier than this module sends it: they err on accepting, responses err on caution).
            if r.introduced_in() <= v {
                assert!(defined_in("ResultReason", r.code(), v), "{r} in {v}");
            }
            let sent = r.code_in(v);
            assert!(
                defined_in("ResultReason", sent, v),
                "{r} becomes {sent:#x}, undefined in {v}"
            );
        }
    }
}
