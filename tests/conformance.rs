//! The KMIP conformance test vectors (KMIP Profiles 1.4 and 2.1, `testdata/kmip-vectors/v1.4` and `v2.1`, copied from the OASIS publication with its notice)
//! replayed against kmipd: every request of every test case the folders' `index.html` list is sent to the
//! engine in-process, and each response is compared with the vector's structurally (see
//! `conformance/rules.rs` for what may differ and why). A fresh engine on an empty store
//! (`support/engine.rs`) serves each vector, except the few that work on an earlier vector's objects
//! (`vectors::link_continuations`).
//!
//! Results are printed per profile ("Baseline: N of M passed"). The test fails when a vector fails that
//! `conformance/expected-failures.txt` does not list, or passes although listed: the list records today's gaps
//! and must shrink as operations land. `KMIPD_UPDATE_EXPECTED=1` rewrites the list from the run.
//!
//! A second test replays every vector over mutual TLS with binary TTLV against `kmipd serve --interop-tests`,
//! and checks each ends exactly as in-process: the wire path and the binary add nothing and lose nothing.

#[path = "conformance/compare.rs"]
mod compare;
#[path = "conformance/expected.rs"]
mod expected;
#[path = "conformance/replay.rs"]
mod replay;
#[path = "conformance/rules.rs"]
mod rules;
#[path = "support/pykmip_script.rs"]
mod serve;
#[path = "support/engine.rs"]
mod test_engine;
#[path = "support/tls.rs"]
mod tls;
#[path = "conformance/vectors.rs"]
mod vectors;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::rc::Rc;

use kmipd::ops::system_clock;
use kmipd::ttlv::Ttlv;

use replay::{Outcome, replay};
use vectors::{FOLDERS, Vector};

/// Every vector the index pages list, read; a file that does not read is a test failure.
fn all_vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    for folder in FOLDERS {
        let listed = vectors::index(folder);
        let on_disk: BTreeSet<_> = fs::read_dir(vectors::vectors_root().join(folder))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        let listed_set: BTreeSet<_> = listed.iter().cloned().collect();
        assert_eq!(
            listed_set, on_disk,
            "{folder}: index.html and the folder's XML files differ"
        );
        let mut folder_vectors: Vec<Vector> = listed
            .iter()
            .map(|path| vectors::load(path).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        vectors::link_continuations(&mut folder_vectors);
        out.extend(folder_vectors);
    }
    out
}

fn run_on(
    vector: &Vector,
    engine: &test_engine::TestEngine,
    generated: &mut HashSet<String>,
    known: &BTreeMap<String, expected::Known>,
) -> Outcome {
    let accepted = accepted_for(vector, known);
    replay(
        vector,
        system_clock(),
        generated,
        &accepted,
        &mut |request: &Ttlv| engine.engine.handle_request(request),
    )
}

/// The value differences expected-failures.txt accepts in `vector` (rules.rs, rule 7).
fn accepted_for(
    vector: &Vector,
    known: &BTreeMap<String, expected::Known>,
) -> Vec<(usize, String)> {
    known
        .get(&vector.name)
        .map(expected::Known::accepted)
        .unwrap_or_default()
}

/// Runs every vector in order, each on a fresh engine, except that a vector continuing an earlier one runs on
/// that one's engine.
fn run_all(vectors: &[Vector], known: &BTreeMap<String, expected::Known>) -> Vec<Outcome> {
    type Kept = (Rc<test_engine::TestEngine>, HashSet<String>);
    let mut engines: HashMap<&str, Kept> = HashMap::new();
    let mut outcomes = Vec::new();
    for vector in vectors {
        let (engine, mut generated) = vector
            .continues
            .as_deref()
            .and_then(|earlier| engines.get(earlier).cloned())
            .unwrap_or_else(|| (Rc::new(test_engine::fresh()), HashSet::new()));
        outcomes.push(run_on(vector, &engine, &mut generated, known));
        // Only engines a later vector may continue are kept.
        if vectors
            .iter()
            .any(|v| v.continues.as_deref() == Some(&vector.name))
        {
            engines.insert(&vector.name, (engine, generated));
        }
    }
    outcomes
}

/// Prints "profile: N of M passed" for each profile and a total.
fn print_summary(outcomes: &[Outcome]) {
    let mut per_profile: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for outcome in outcomes {
        let entry = per_profile.entry(outcome.profile).or_default();
        entry.1 += 1;
        if outcome.failure.is_none() {
            entry.0 += 1;
        }
    }
    println!("conformance vectors by profile:");
    for (profile, (passed, total)) in &per_profile {
        println!("  {profile}: {passed} of {total} passed");
    }
    let passed = outcomes.iter().filter(|o| o.failure.is_none()).count();
    println!("  total: {passed} of {} ran to the end", outcomes.len());
    let run: usize = outcomes.iter().map(|o| o.exchanges_run).sum();
    let total: usize = outcomes.iter().map(|o| o.exchanges_total).sum();
    let differed: usize = outcomes.iter().map(|o| o.differed.len()).sum();
    println!(
        "  exchanges compared: {run} of {total}; accepted differences in unreproducible outputs: {differed}"
    );
}

#[test]
fn vectors_replay_in_process() {
    let vectors = all_vectors();
    assert!(vectors.len() > 100, "only {} vectors", vectors.len());
    let known = expected::read();
    let outcomes = run_all(&vectors, &known);
    for outcome in &outcomes {
        if let Some(f) = &outcome.failure {
            println!(
                "FAIL {} exchange {}: {}",
                outcome.name, f.exchange, f.detail
            );
        }
    }
    print_summary(&outcomes);
    if std::env::var_os("KMIPD_UPDATE_EXPECTED").is_some_and(|v| v == "1") {
        expected::write(&outcomes);
        println!("rewrote {}", expected::path().display());
        return;
    }
    let problems = expected::problems(&outcomes, &known);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every vector again, over mutual TLS with binary TTLV against `kmipd serve --interop-tests` itself (a fresh
/// server on a fresh data directory per vector; a vector continuing an earlier one runs on that one's server):
/// each must end exactly as expected-failures.txt says, as in-process.
#[test]
fn vectors_replay_against_kmipd_serve() {
    let vectors = all_vectors();
    let known = expected::read();
    let temp = tempfile::tempdir().unwrap();
    let mut servers: HashMap<&str, (Rc<Served>, HashSet<String>)> = HashMap::new();
    let mut outcomes = Vec::new();
    for (n, vector) in vectors.iter().enumerate() {
        let (served, mut generated) = vector
            .continues
            .as_deref()
            .and_then(|earlier| servers.get(earlier).cloned())
            .unwrap_or_else(|| {
                (
                    Rc::new(Served::start(&temp.path().join(n.to_string()))),
                    HashSet::new(),
                )
            });
        let mut client = served.connect();
        let accepted = accepted_for(vector, &known);
        let outcome = replay(
            vector,
            system_clock(),
            &mut generated,
            &accepted,
            &mut |request: &Ttlv| client.send(request),
        );
        if let Some(f) = &outcome.failure {
            println!(
                "over TLS: {} exchange {}: {}",
                outcome.name, f.exchange, f.detail
            );
        }
        outcomes.push(outcome);
        if vectors
            .iter()
            .any(|v| v.continues.as_deref() == Some(&vector.name))
        {
            servers.insert(&vector.name, (served, generated));
        }
    }
    println!("against kmipd serve over mutual TLS:");
    print_summary(&outcomes);
    let problems = expected::problems(&outcomes, &known);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A `kmipd serve --interop-tests` on its own data directory and a free loopback port, with the client files
/// its embedded default made.
struct Served {
    server: serve::Server,
    addr: std::net::SocketAddr,
    data_dir: std::path::PathBuf,
}

impl Served {
    fn start(dir: &std::path::Path) -> Served {
        fs::create_dir_all(dir).unwrap();
        let data_dir = dir.join("kmipd-data");
        let addr = serve::free_loopback_addr();
        let server =
            serve::Server::start_with(&data_dir, addr, dir.join("kmipd.log"), &["--interop-tests"]);
        assert!(
            server.log().contains("INTEROP TEST MODE"),
            "serve --interop-tests did not warn:\n{}",
            server.log()
        );
        Served {
            server,
            addr,
            data_dir,
        }
    }

    fn connect(&self) -> tls::KmipClient {
        let read = |name: &str| fs::read_to_string(self.data_dir.join(name)).unwrap();
        tls::KmipClient::connect_pem(
            self.addr,
            &read("ca.pem"),
            &read("admin.pem"),
            &read("admin.key"),
        )
        .unwrap_or_else(|e| panic!("cannot connect to kmipd serve: {e}\n{}", self.server.log()))
    }
}

/// The comparison itself: it must catch what it is there to catch.
mod comparison {
    use super::compare::Bindings;
    use super::vectors;
    use kmipd::spec::tag;
    use kmipd::ttlv::{Ttlv, Value};
    use std::io::Write;

    const NOW: i64 = 1_700_000_000;

    /// A two-exchange vector written to a temporary file and read like the real ones.
    fn vector(responses: [&str; 2]) -> vectors::Vector {
        let request = r#"<RequestMessage><RequestHeader><ProtocolVersion>
            <ProtocolVersionMajor type="Integer" value="1"/><ProtocolVersionMinor type="Integer" value="4"/>
            </ProtocolVersion><BatchCount type="Integer" value="1"/></RequestHeader>
            <BatchItem><Operation type="Enumeration" value="Get"/><RequestPayload>
            <UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/></RequestPayload></BatchItem>
            </RequestMessage>"#;
        let mut file = tempfile::Builder::new().suffix(".xml").tempfile().unwrap();
        write!(
            file,
            "<KMIP>{request}{}{request}{}</KMIP>",
            responses[0], responses[1]
        )
        .unwrap();
        vectors::load(file.path()).unwrap()
    }

    fn response(uid: &str, time: &str, status: &str) -> String {
        format!(
            r#"<ResponseMessage><ResponseHeader><ProtocolVersion>
            <ProtocolVersionMajor type="Integer" value="1"/><ProtocolVersionMinor type="Integer" value="4"/>
            </ProtocolVersion><TimeStamp type="DateTime" value="{time}"/>
            <BatchCount type="Integer" value="1"/></ResponseHeader>
            <BatchItem><Operation type="Enumeration" value="Get"/>
            <ResultStatus type="Enumeration" value="{status}"/>
            <ResultMessage type="TextString" value="anything"/>
            <ResponsePayload><UniqueIdentifier type="TextString" value="{uid}"/></ResponsePayload>
            </BatchItem></ResponseMessage>"#
        )
    }

    /// The expected response with the placeholders given actual values.
    fn actual(v: &vectors::Vector, exchange: usize, uid: &str, time: i64) -> Ttlv {
        let mut tree = v.exchanges[exchange].response.clone();
        fn set(item: &mut Ttlv, uid: &str, time: i64) {
            match &mut item.value {
                Value::Structure(children) => children.iter_mut().for_each(|c| set(c, uid, time)),
                _ if item.tag == tag::UNIQUE_IDENTIFIER => {
                    item.value = Value::TextString(uid.into())
                }
                _ if item.tag == tag::TIME_STAMP => item.value = Value::DateTime(time),
                _ => {}
            }
        }
        set(&mut tree, uid, time);
        tree
    }

    fn run(v: &vectors::Vector, answers: [(&str, i64); 2]) -> Result<(), String> {
        let mut b = Bindings::new(NOW, Default::default());
        for (i, (uid, time)) in answers.iter().enumerate() {
            let e = &v.exchanges[i];
            b.compare(
                &e.response,
                &e.response_sites,
                &actual(v, i, uid, *time),
                &mut [],
            )
            .map_err(|d| d.to_string())?;
        }
        Ok(())
    }

    #[test]
    fn placeholders_bind_on_first_sight_and_must_agree_later() {
        let r = response("$UNIQUE_IDENTIFIER_0", "$NOW", "Success");
        let v = vector([&r, &r]);
        assert_eq!(run(&v, [("a", NOW), ("a", NOW + 5)]), Ok(()));
        let err = run(&v, [("a", NOW), ("b", NOW)]).unwrap_err();
        assert!(err.contains("UniqueIdentifier"), "{err}");
    }

    #[test]
    fn now_matches_only_within_the_tolerance() {
        let r = response("x", "$NOW-3600", "Success");
        let v = vector([&r, &r]);
        assert_eq!(run(&v, [("x", NOW - 3600), ("x", NOW - 3500)]), Ok(()));
        let err = run(&v, [("x", NOW), ("x", NOW)]).unwrap_err();
        assert!(err.contains("TimeStamp"), "{err}");
    }

    #[test]
    fn a_different_value_is_reported_with_its_path() {
        let v = vector([
            &response("x", "$NOW", "Success"),
            &response("x", "$NOW", "Success"),
        ]);
        let mut b = Bindings::new(NOW, Default::default());
        let mut wrong = actual(&v, 0, "x", NOW);
        let Value::Structure(children) = &mut wrong.value else {
            unreachable!()
        };
        let item = children
            .iter_mut()
            .find(|c| c.tag == tag::BATCH_ITEM)
            .unwrap();
        let Value::Structure(fields) = &mut item.value else {
            unreachable!()
        };
        let status = fields
            .iter_mut()
            .find(|c| c.tag == tag::RESULT_STATUS)
            .unwrap();
        status.value = Value::Enumeration(1);
        let d = b
            .compare(
                &v.exchanges[0].response,
                &v.exchanges[0].response_sites,
                &wrong,
                &mut [],
            )
            .unwrap_err();
        assert_eq!(d.path, "ResponseMessage/BatchItem/ResultStatus");
        assert_eq!(
            (d.expected.as_str(), d.actual.as_str()),
            ("Success", "OperationFailed")
        );
    }

    #[test]
    fn a_request_naming_an_unbound_placeholder_is_refused() {
        let r = response("x", "$NOW", "Success");
        let v = vector([&r, &r]);
        let mut b = Bindings::new(NOW, Default::default());
        let mut request = v.exchanges[0].request.clone();
        let err = b
            .fill_request(&mut request, &v.exchanges[0].request_sites, &[])
            .unwrap_err();
        assert!(err.contains("$UNIQUE_IDENTIFIER_0"), "{err}");
    }

    #[test]
    fn an_unbound_request_placeholder_takes_the_value_an_earlier_response_gave_for_its_item() {
        let r = response("x", "$NOW", "Success");
        let v = vector([&r, &r]);
        let mut b = Bindings::new(NOW, Default::default());
        let mut request = v.exchanges[0].request.clone();
        let earlier = actual(&v, 0, "from-the-server", NOW);
        b.fill_request(&mut request, &v.exchanges[0].request_sites, &[earlier])
            .unwrap();
        let sent = request
            .child(tag::BATCH_ITEM)
            .and_then(|i| i.child(tag::REQUEST_PAYLOAD))
            .and_then(|p| p.child(tag::UNIQUE_IDENTIFIER))
            .unwrap();
        assert_eq!(sent.value, Value::TextString("from-the-server".into()));
    }

    /// Rule 7: a listed place may differ in value (same type and length) and is marked met; elsewhere, or with
    /// another type, the same difference fails.
    #[test]
    fn an_accepted_difference_is_accepted_only_where_listed_and_only_in_value() {
        use super::compare::Accepted;
        let v = vector([
            &response("x", "$NOW", "Success"),
            &response("x", "$NOW", "Success"),
        ]);
        let mut other = actual(&v, 0, "y", NOW);
        let path = "ResponseMessage/BatchItem/ResponsePayload/UniqueIdentifier";
        let mut listed = [Accepted {
            path: path.into(),
            seen: false,
        }];
        let mut b = Bindings::new(NOW, Default::default());
        b.compare(
            &v.exchanges[0].response,
            &v.exchanges[0].response_sites,
            &other,
            &mut listed,
        )
        .unwrap();
        assert!(listed[0].seen);
        let mut elsewhere = [Accepted {
            path: "ResponseMessage/BatchItem/ResultStatus".into(),
            seen: false,
        }];
        let mut b = Bindings::new(NOW, Default::default());
        let d = b
            .compare(
                &v.exchanges[0].response,
                &v.exchanges[0].response_sites,
                &other,
                &mut elsewhere,
            )
            .unwrap_err();
        assert_eq!(d.path, path);
        assert!(!elsewhere[0].seen);
        // Another type at the listed place is still a difference.
        fn retype(item: &mut Ttlv) {
            match &mut item.value {
                Value::Structure(children) => children.iter_mut().for_each(retype),
                _ if item.tag == tag::UNIQUE_IDENTIFIER => item.value = Value::Integer(1),
                _ => {}
            }
        }
        retype(&mut other);
        let mut listed = [Accepted {
            path: path.into(),
            seen: false,
        }];
        let mut b = Bindings::new(NOW, Default::default());
        assert!(
            b.compare(
                &v.exchanges[0].response,
                &v.exchanges[0].response_sites,
                &other,
                &mut listed,
            )
            .is_err()
        );
    }
}
